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
#include <crypto/skcipher.h>
#include <linux/bvec.h>
#include <linux/scatterlist.h>
#include <linux/uio.h>

#include "qsnap.h"

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

/**
 * qsnap_crypt_init() - set up the decryption of one image
 * @im: the image, parsed, with a crypt_method
 * @key: its volume key, of the image's key size
 * @key_size: bytes of @key
 *
 * Every refusal logs one line; the key is never logged.
 *
 * Return: 0 or -errno: -EINVAL for a key of the wrong size or one the
 * cipher refuses, -EOPNOTSUPP for a cipher this kernel does not have.
 */
int qsnap_crypt_init(struct qsnap_image *im, const u8 *key, u32 key_size)
{
	const struct qcow2_crypto *c = &im->qcow2.crypto;
	struct crypto_skcipher *tfm;
	char name[CRYPTO_MAX_ALG_NAME];
	int ret;

	if (key_size != c->key_bytes) {
		pr_err("%s: a key of %u bytes was passed; the image's is %u\n",
		       im->log_path, key_size, c->key_bytes);
		return -EINVAL;
	}
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
	ret = crypto_skcipher_setkey(tfm, key, key_size);
	if (ret) {
		pr_err("%s: cipher %s refuses a key of %u bytes (error %d)\n",
		       im->log_path, name, key_size, ret);
		crypto_free_skcipher(tfm);
		return ret == -ENOKEY ? -EINVAL : ret;
	}
	im->tfm = tfm;
	return 0;
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
		sg_set_page(&sg[n++], nth_page((*bv)->bv_page, off >> PAGE_SHIFT),
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
