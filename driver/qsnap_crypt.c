// SPDX-License-Identifier: GPL-2.0-only
/*
 * Decryption of encrypted qcow2 images (LUKS and legacy AES) with the
 * kernel's crypto API, in place in the request's pages after the data has
 * been read.
 *
 * The cipher comes from the image (qcow2_crypto.c decodes it); the volume
 * key from the caller, who unlocked it (qsnapctl, with libcryptsetup).  As
 * in QEMU's qcow2_co_encdec(), each 512-byte sector is one unit with its
 * own IV, made from the sector's number: its host offset in the file that
 * holds the data for LUKS, its guest offset for legacy AES.  dm-crypt
 * cannot do this on top of /dev/qsnapN: only the driver knows host offsets.
 */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <crypto/skcipher.h>
#include <keys/user-type.h>
#include <linux/bvec.h>
#include <linux/key.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/uio.h>

#include "qsnap.h"
#include "qsnap_compat.h"

/* Pieces one 512-byte sector may be split into across bio_vecs. */
#define QSNAP_CRYPT_SG	4
#define QSNAP_CRYPT_IV_MAX	16

/*
 * The crypto API name of an image's cipher (its names checked by
 * qcow2_crypto.c): "xts(aes)", "essiv(cbc(aes),sha256)", ...; 0, or
 * -EOPNOTSUPP when it does not fit @size.
 */
static int qsnap_crypt_alg_name(const struct qcow2_crypto *c, char *buf,
				size_t size)
{
	int n;

	if (c->ivgen == QCOW2_IV_ESSIV)
		n = snprintf(buf, size, "essiv(%s(%s),%s)", c->mode, c->cipher,
			     c->ivhash);
	else
		n = snprintf(buf, size, "%s(%s)", c->mode, c->cipher);
	return n < size ? 0 : -EOPNOTSUPP;
}

/*
 * The volume key in the payload of the "logon" key @desc of the caller's
 * keyrings (as dm-crypt's crypt_set_keyring_key() reads it) into @key,
 * which holds QSNAP_KEY_MAX bytes.  Return: 0 or -errno, said.
 */
static int qsnap_crypt_keyring_key(const struct qsnap_image *im,
				   const char *desc, u8 *key)
{
#ifdef CONFIG_KEYS
	const struct user_key_payload *ukp;
	struct key *k;
	int ret = 0;

	k = request_key(&key_type_logon, desc, NULL);
	if (IS_ERR(k)) {
		ret = PTR_ERR(k);
		pr_err("%s: no logon key '%s' can be read (error %d)\n",
		       im->log_path, desc, ret);
		return ret;
	}
	down_read(&k->sem);
	ukp = user_key_payload_locked(k);
	if (!ukp) {
		ret = -EKEYREVOKED;
	} else if (ukp->datalen != im->qcow2.crypto.key_bytes) {
		pr_err("%s: logon key '%s' holds %u bytes; the image's key has %u\n",
		       im->log_path, desc, ukp->datalen,
		       im->qcow2.crypto.key_bytes);
		ret = -EINVAL;
	} else {
		memcpy(key, ukp->data, ukp->datalen);
	}
	up_read(&k->sem);
	key_put(k);
	if (ret == -EKEYREVOKED)
		pr_err("%s: logon key '%s' is revoked\n", im->log_path, desc);
	return ret;
#else
	pr_err("%s: this kernel has no keyrings (CONFIG_KEYS)\n", im->log_path);
	return -EOPNOTSUPP;
#endif
}

/*
 * The first LUKS1_DIGEST_LEN bytes of PBKDF2 (RFC 8018) with @hmac, keyed
 * with the password, of @salt and @iterations: one block, as every hash
 * LUKS1 names makes at least that many bytes.  An image chooses the count:
 * the loop yields and stops for a fatal signal.
 */
static int qsnap_crypt_pbkdf2(struct crypto_shash *hmac, const u8 *salt,
			      u32 iterations, u8 *out)
{
	SHASH_DESC_ON_STACK(desc, hmac);
	unsigned int ds = crypto_shash_digestsize(hmac);
	u8 u[HASH_MAX_DIGESTSIZE], next[HASH_MAX_DIGESTSIZE];
	u8 t[HASH_MAX_DIGESTSIZE];
	__be32 block = cpu_to_be32(1);
	u32 i;
	int ret;

	desc->tfm = hmac;
	ret = crypto_shash_init(desc) ?:
	      crypto_shash_update(desc, salt, LUKS1_SALT_LEN) ?:
	      crypto_shash_finup(desc, (const u8 *)&block, sizeof(block), u);
	memcpy(t, u, ds);
	for (i = 1; !ret && i < iterations; i++) {
		ret = crypto_shash_digest(desc, u, ds, next);
		memcpy(u, next, ds);
		crypto_xor(t, u, ds);
		if (!(i & 1023)) {
			if (fatal_signal_pending(current))
				ret = -EINTR;
			cond_resched();
		}
	}
	if (!ret)
		memcpy(out, t, LUKS1_DIGEST_LEN);
	shash_desc_zero(desc);
	memzero_explicit(u, sizeof(u));
	memzero_explicit(next, sizeof(next));
	memzero_explicit(t, sizeof(t));
	return ret;
}

/*
 * Check a LUKS volume key as cryptsetup's LUKS_verify_volume_key() does:
 * PBKDF2 of it with the header's salt and count equals the header's
 * digest.  A wrong key would decrypt to garbage; it is refused instead.
 */
static int qsnap_crypt_check_key(const struct qsnap_image *im, const u8 *key)
{
	const struct qcow2_crypto *c = &im->qcow2.crypto;
	/* The one hash QEMU and LUKS name otherwise than the kernel does. */
	const char *hash = strcmp(c->hash, "ripemd160") ? c->hash : "rmd160";
	char name[CRYPTO_MAX_ALG_NAME];
	u8 digest[LUKS1_DIGEST_LEN];
	struct crypto_shash *hmac;
	int ret;

	if (snprintf(name, sizeof(name), "hmac(%s)", hash) >= sizeof(name))
		return -EOPNOTSUPP;
	hmac = crypto_alloc_shash(name, 0, 0);
	if (IS_ERR(hmac)) {
		ret = PTR_ERR(hmac);
		if (ret == -ENOMEM)
			return ret;
		pr_err("%s: the kernel has no %s to check the key (error %d)\n",
		       im->log_path, name, ret);
		return ret == -ENOENT ? -EOPNOTSUPP : ret;
	}
	ret = -EOPNOTSUPP;
	if (crypto_shash_digestsize(hmac) >= LUKS1_DIGEST_LEN)
		ret = crypto_shash_setkey(hmac, key, c->key_bytes) ?:
		      qsnap_crypt_pbkdf2(hmac, c->mk_digest_salt,
					 c->mk_digest_iterations, digest);
	crypto_free_shash(hmac);
	if (!ret && crypto_memneq(digest, c->mk_digest, sizeof(digest))) {
		pr_err("%s: the key does not match the LUKS header's digest\n",
		       im->log_path);
		ret = -EKEYREJECTED;
	} else if (ret && ret != -EINTR) {
		pr_err("%s: cannot check the key with %s (error %d)\n",
		       im->log_path, name, ret);
	}
	memzero_explicit(digest, sizeof(digest));
	return ret;
}

/* Allocate and key @im's cipher with @key, of the image's key size. */
static int qsnap_crypt_setup_tfm(struct qsnap_image *im, const u8 *key)
{
	const struct qcow2_crypto *c = &im->qcow2.crypto;
	struct crypto_skcipher *tfm;
	char name[CRYPTO_MAX_ALG_NAME];
	int ret;

	ret = qsnap_crypt_alg_name(c, name, sizeof(name));
	if (ret) {
		pr_err("%s: cipher %s-%s has too long a name\n", im->log_path,
		       c->cipher, c->mode);
		return ret;
	}
	tfm = crypto_alloc_skcipher(name, 0, 0);
	if (IS_ERR(tfm)) {
		ret = PTR_ERR(tfm);
		if (ret == -ENOMEM)
			return ret;
		pr_err("%s: the kernel has no %s cipher (error %d)\n",
		       im->log_path, name, ret);
		return ret == -ENOENT ? -EOPNOTSUPP : ret;
	}
	if (crypto_skcipher_ivsize(tfm) > QSNAP_CRYPT_IV_MAX ||
	    (c->ivgen != QCOW2_IV_NONE && crypto_skcipher_ivsize(tfm) < 8)) {
		pr_err("%s: cipher %s has an IV of %u bytes\n", im->log_path,
		       name, crypto_skcipher_ivsize(tfm));
		crypto_free_skcipher(tfm);
		return -EOPNOTSUPP;
	}
	ret = crypto_skcipher_setkey(tfm, key, c->key_bytes);
	if (ret) {
		pr_err("%s: cipher %s refuses a key of %u bytes (error %d)\n",
		       im->log_path, name, c->key_bytes, ret);
		crypto_free_skcipher(tfm);
		return ret == -ENOKEY ? -EINVAL : ret;
	}
	im->tfm = tfm;
	return 0;
}

/**
 * qsnap_crypt_init() - set up the decryption of one image
 * @im: the image, parsed, with a crypt_method
 * @k: its key as the caller passed it: the key itself, or with
 *	QSNAP_KEY_F_KEYRING the description of a logon key holding it
 *	(qsnap_ctl.c checked the fields)
 *
 * A LUKS key is checked against the header's digest.  Every refusal
 * logs one line; the key is never logged, and no copy outlives this call
 * but the cipher's.
 *
 * Return: 0 or -errno: -EINVAL for a key of the wrong size or one the
 * cipher refuses, -EKEYREJECTED for a LUKS key that is not the image's,
 * -EOPNOTSUPP for a cipher or hash this kernel does not have, what
 * request_key() says of a logon key it cannot give.
 */
int qsnap_crypt_init(struct qsnap_image *im, const struct qsnap_key *k)
{
	const struct qcow2_crypto *c = &im->qcow2.crypto;
	u8 key[QSNAP_KEY_MAX];
	int ret = 0;

	if (k->flags & QSNAP_KEY_F_KEYRING) {
		char desc[QSNAP_KEY_MAX];

		memcpy(desc, k->key, sizeof(desc));
		ret = qsnap_crypt_keyring_key(im, desc, key);
	} else if (k->size != c->key_bytes) {
		pr_err("%s: a key of %u bytes was passed; the image's is %u\n",
		       im->log_path, k->size, c->key_bytes);
		ret = -EINVAL;
	} else {
		memcpy(key, k->key, k->size);
	}
	/* A cipher the kernel lacks is refused before the key is checked. */
	if (!ret)
		ret = qsnap_crypt_setup_tfm(im, key);
	if (!ret && im->qcow2.crypt_method == QCOW2_CRYPT_LUKS) {
		ret = qsnap_crypt_check_key(im, key);
		if (ret)
			qsnap_crypt_exit(im);
	}
	memzero_explicit(key, sizeof(key));
	return ret;
}

/* qsnap_crypt_exit() - free what qsnap_crypt_init() set up (and the key) */
void qsnap_crypt_exit(struct qsnap_image *im)
{
	crypto_free_skcipher(im->tfm);
	im->tfm = NULL;
}

/* The IV of sector @sector, as QEMU's ivgen-plain*.c and ivgen-essiv.c make it. */
static void qsnap_crypt_iv(const struct qcow2_crypto *c, u8 *iv,
			   unsigned int ivsize, u64 sector)
{
	__le64 n = cpu_to_le64(c->ivgen == QCOW2_IV_PLAIN ?
			       sector & 0xffffffff : sector);

	memset(iv, 0, ivsize);
	/* ESSIV: the template encrypts this with the key's hash. */
	if (c->ivgen != QCOW2_IV_NONE)
		memcpy(iv, &n, sizeof(n));
}

/*
 * Point @sg at the next 512 bytes of the bio_vecs from *@bv, *@skip bytes
 * in, and move both on past them.  Return: the entries used, or -EIO if
 * the sector is in more pieces than @sg holds.
 */
static int qsnap_crypt_sector_sg(struct scatterlist *sg,
				 const struct bio_vec **bv, size_t *skip)
{
	size_t need = SECTOR_SIZE, off, take;
	int n = 0;

	sg_init_table(sg, QSNAP_CRYPT_SG);
	while (need) {
		while (*skip >= (*bv)->bv_len) {
			*skip -= (*bv)->bv_len;
			(*bv)++;
		}
		if (n == QSNAP_CRYPT_SG)
			return -EIO;
		off = (*bv)->bv_offset + *skip;
		take = min3(need, (size_t)(*bv)->bv_len - *skip,
			    PAGE_SIZE - offset_in_page(off));
		sg_set_page(&sg[n++], qsnap_nth_page((*bv)->bv_page, off >> PAGE_SHIFT),
			    take, offset_in_page(off));
		*skip += take;
		need -= take;
	}
	sg_mark_end(&sg[n - 1]);
	return n;
}

/**
 * qsnap_crypt_decrypt() - decrypt data read into a request's pages
 * @im: the image the data was read from (qsnap_crypt_init() done)
 * @iter: the request's pages the data was read into (a bio_vec iterator,
 *	as it was before the read)
 * @len: bytes to decrypt, a multiple of 512
 * @sector: the IV number of the first sector (host or guest offset / 512)
 *
 * Process context, may sleep.  Return: 0 or -errno.
 */
int qsnap_crypt_decrypt(struct qsnap_image *im, const struct iov_iter *iter,
			u64 len, u64 sector)
{
	const struct qcow2_crypto *c = &im->qcow2.crypto;
	unsigned int ivsize = crypto_skcipher_ivsize(im->tfm);
	struct scatterlist sg[QSNAP_CRYPT_SG];
	u8 iv[QSNAP_CRYPT_IV_MAX] __aligned(8);
	const struct bio_vec *bv;
	struct skcipher_request *req;
	DECLARE_CRYPTO_WAIT(wait);
	size_t skip;
	int ret = 0;

	if (!iov_iter_is_bvec(iter) || (len & (SECTOR_SIZE - 1)) ||
	    len > iov_iter_count(iter))
		return -EIO;
	req = skcipher_request_alloc(im->tfm, GFP_NOIO);
	if (!req)
		return -ENOMEM;
	skcipher_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG |
				      CRYPTO_TFM_REQ_MAY_SLEEP,
				      crypto_req_done, &wait);
	bv = iter->bvec;
	skip = iter->iov_offset;
	for (; len; len -= SECTOR_SIZE, sector++) {
		ret = qsnap_crypt_sector_sg(sg, &bv, &skip);
		if (ret < 0)
			break;
		qsnap_crypt_iv(c, iv, ivsize, sector);
		skcipher_request_set_crypt(req, sg, sg, SECTOR_SIZE,
					   ivsize ? iv : NULL);
		ret = crypto_wait_req(crypto_skcipher_decrypt(req), &wait);
		if (ret)
			break;
	}
	skcipher_request_free(req);
	memzero_explicit(iv, sizeof(iv));
	return ret;
}
