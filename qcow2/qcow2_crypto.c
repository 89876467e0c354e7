// SPDX-License-Identifier: GPL-2.0-only
/*
 * How an encrypted qcow2 image encrypts its data: legacy AES (crypt_method
 * 1) or the LUKS1 header it embeds (crypt_method 2), decoded and checked as
 * QEMU's crypto/block-luks.c does before it trusts a byte of it.  Only the
 * cipher's description comes from here; the key slots are unlocked in
 * userspace (libcryptsetup), and the volume key never passes through this
 * code.
 *
 * The names end up in kernel crypto API algorithm names ("xts(aes)"), so
 * they are restricted to the characters such names are made of: an image
 * must not be able to pick a template of its own choosing.
 */
#include "qcow2.h"

/* A NUL-terminated name of lower-case letters, digits, '-' and '_'. */
static bool luks_name_ok(const char *s, size_t size)
{
	size_t i;

	if (!s[0])
		return false;
	for (i = 0; i < size && s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return i < size;
}

static void luks_copy_name(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * The cipher mode field, "<mode>-<ivgen>[:<hash>]" (QEMU's parse): "xts-plain64",
 * "cbc-essiv:sha256".
 */
static int luks_parse_mode(struct qcow2_image *img, const char *spec)
{
	struct qcow2_crypto *c = &img->crypto;
	const char *dash, *colon, *iv;
	size_t iv_len;

	if (!memchr(spec, '\0', LUKS1_NAME_LEN))
		return qcow2_error(img, EINVAL, "LUKS cipher mode is not terminated");
	dash = strchr(spec, '-');
	if (!dash || dash == spec)
		return qcow2_error(img, EINVAL,
				   "LUKS cipher mode \"%.32s\" is not <mode>-<iv generator>",
				   spec);
	luks_copy_name(c->mode, spec, dash - spec);
	iv = dash + 1;
	colon = strchr(iv, ':');
	iv_len = colon ? (size_t)(colon - iv) : strlen(iv);
	if (colon) {
		if (!luks_name_ok(colon + 1, LUKS1_NAME_LEN - (colon + 1 - spec)))
			return qcow2_error(img, EINVAL,
					   "LUKS IV hash in \"%.32s\" is not a hash name",
					   spec);
		luks_copy_name(c->ivhash, colon + 1, strlen(colon + 1));
	}
	if (strcmp(c->mode, "xts") && strcmp(c->mode, "cbc") &&
	    strcmp(c->mode, "ecb") && strcmp(c->mode, "ctr"))
		return qcow2_error(img, EOPNOTSUPP,
				   "LUKS cipher mode \"%.32s\" is not one QEMU writes (xts, cbc, ecb, ctr)",
				   spec);
	if (iv_len == 5 && !memcmp(iv, "plain", 5))
		c->ivgen = QCOW2_IV_PLAIN;
	else if (iv_len == 7 && !memcmp(iv, "plain64", 7))
		c->ivgen = QCOW2_IV_PLAIN64;
	else if (iv_len == 5 && !memcmp(iv, "essiv", 5))
		c->ivgen = QCOW2_IV_ESSIV;
	else
		return qcow2_error(img, EOPNOTSUPP,
				   "LUKS IV generator in \"%.32s\" is not plain, plain64 or essiv",
				   spec);
	if (c->ivgen == QCOW2_IV_ESSIV && !c->ivhash[0])
		return qcow2_error(img, EINVAL,
				   "LUKS cipher mode \"%.32s\": essiv without a hash",
				   spec);
	/* QEMU ignores a hash given to plain and plain64, as dm-crypt does. */
	if (c->ivgen != QCOW2_IV_ESSIV)
		c->ivhash[0] = '\0';
	/* ecb has no IV: its generator is written, and means nothing. */
	if (!strcmp(c->mode, "ecb"))
		c->ivgen = QCOW2_IV_NONE;
	return 0;
}

/*
 * Key slots as QEMU's qcrypto_block_luks_check_header() wants them: 4000
 * stripes, a known state, the key material after the header, before the
 * payload, inside the extension, and no two slots' material overlapping.
 */
static int luks_check_slots(struct qcow2_image *img,
			    const struct luks1_header *h, u32 payload)
{
	u64 area = ((u64)img->crypto.key_bytes * LUKS1_STRIPES +
		    LUKS1_SECTOR_SIZE - 1) / LUKS1_SECTOR_SIZE;
	u64 header_sectors = (sizeof(*h) + LUKS1_SECTOR_SIZE - 1) /
			     LUKS1_SECTOR_SIZE;
	u64 length_sectors = img->crypto.header_length / LUKS1_SECTOR_SIZE;
	u32 i, j, active, start, other;
	bool enabled = false;

	for (i = 0; i < LUKS1_KEY_SLOTS; i++) {
		const struct luks1_key_slot *s = &h->key_slots[i];

		active = be32_to_cpu(s->active);
		start = be32_to_cpu(s->key_offset);
		if (be32_to_cpu(s->stripes) != LUKS1_STRIPES)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u: %u stripes (not %u)",
					   i, be32_to_cpu(s->stripes), LUKS1_STRIPES);
		if (active != LUKS1_SLOT_ENABLED && active != LUKS1_SLOT_DISABLED)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u: state %#x is neither enabled nor disabled",
					   i, active);
		if (active == LUKS1_SLOT_ENABLED && !be32_to_cpu(s->iterations))
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u: iteration count is zero",
					   i);
		if (active == LUKS1_SLOT_ENABLED &&
		    be32_to_cpu(s->iterations) > QCOW2_LUKS_ITER_MAX)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u: %u PBKDF2 iterations (at most %u)",
					   i, be32_to_cpu(s->iterations),
					   QCOW2_LUKS_ITER_MAX);
		enabled |= active == LUKS1_SLOT_ENABLED;
		if (start < header_sectors)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u overlaps the LUKS header",
					   i);
		if (start + area > payload)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u overlaps the encrypted payload",
					   i);
		if (start + area > length_sectors)
			return qcow2_error(img, EINVAL,
					   "LUKS key slot %u runs past the crypto header extension (%llu bytes)",
					   i, (unsigned long long)img->crypto.header_length);
		for (j = 0; j < i; j++) {
			other = be32_to_cpu(h->key_slots[j].key_offset);
			if (start < other + area && other < start + area)
				return qcow2_error(img, EINVAL,
						   "LUKS key slots %u and %u overlap",
						   j, i);
		}
	}
	if (!enabled)
		return qcow2_error(img, EINVAL, "LUKS header has no enabled key slot");
	return 0;
}

static int qcow2_luks_open(struct qcow2_image *img, const struct qcow2_io *io)
{
	struct qcow2_crypto *c = &img->crypto;
	struct luks1_header h;
	u32 key_bytes, payload;
	int ret;

	if (!c->header_length)
		return qcow2_error(img, EINVAL,
				   "LUKS-encrypted image without a crypto header extension");
	if (c->header_length < sizeof(h))
		return qcow2_error(img, EINVAL,
				   "crypto header extension of %llu bytes cannot hold a LUKS header",
				   (unsigned long long)c->header_length);
	if (c->header_offset > io->file_size ||
	    c->header_length > io->file_size - c->header_offset)
		return qcow2_error(img, EINVAL,
				   "LUKS header (%llu bytes at %llu) runs past the end of the file",
				   (unsigned long long)c->header_length,
				   (unsigned long long)c->header_offset);
	ret = io->pread(io->opaque, &h, sizeof(h), c->header_offset);
	if (ret < 0)
		return qcow2_error(img, -ret, "cannot read the LUKS header at %llu",
				   (unsigned long long)c->header_offset);
	if (memcmp(h.magic, LUKS1_MAGIC, LUKS1_MAGIC_LEN))
		return qcow2_error(img, EINVAL, "no LUKS header at offset %llu",
				   (unsigned long long)c->header_offset);
	if (be16_to_cpu(h.version) != 1)
		return qcow2_error(img, EOPNOTSUPP,
				   "LUKS version %u (qcow2 embeds version 1 only)",
				   be16_to_cpu(h.version));
	if (!luks_name_ok(h.cipher_name, sizeof(h.cipher_name)))
		return qcow2_error(img, EINVAL, "LUKS cipher name is not a cipher name");
	if (!luks_name_ok(h.hash_spec, sizeof(h.hash_spec)))
		return qcow2_error(img, EINVAL, "LUKS hash spec is not a hash name");
	luks_copy_name(c->cipher, h.cipher_name, strlen(h.cipher_name));
	luks_copy_name(c->hash, h.hash_spec, strlen(h.hash_spec));
	ret = luks_parse_mode(img, h.cipher_mode);
	if (ret)
		return ret;
	key_bytes = be32_to_cpu(h.key_bytes);
	if (!key_bytes || key_bytes > QCOW2_KEY_MAX)
		return qcow2_error(img, EINVAL,
				   "LUKS key size %u bytes (at most %u)",
				   key_bytes, QCOW2_KEY_MAX);
	c->key_bytes = key_bytes;
	/* What a volume key is checked against (PBKDF2 of it, as LUKS1 makes it). */
	c->mk_digest_iterations = be32_to_cpu(h.mk_digest_iterations);
	if (!c->mk_digest_iterations)
		return qcow2_error(img, EINVAL,
				   "LUKS volume key digest iteration count is zero");
	if (c->mk_digest_iterations > QCOW2_LUKS_ITER_MAX)
		return qcow2_error(img, EINVAL,
				   "LUKS volume key digest: %u PBKDF2 iterations (at most %u)",
				   c->mk_digest_iterations, QCOW2_LUKS_ITER_MAX);
	memcpy(c->mk_digest, h.mk_digest, sizeof(c->mk_digest));
	memcpy(c->mk_digest_salt, h.mk_digest_salt, sizeof(c->mk_digest_salt));
	payload = be32_to_cpu(h.payload_offset);
	return luks_check_slots(img, &h, payload);
}

/**
 * qcow2_crypto_name() - an encrypted image's cipher as LUKS writes it
 * @c: the decoded cipher
 * @buf: out: "aes-xts-plain64", "aes-cbc-essiv:sha256", ...
 * @size: bytes of @buf (truncated to fit)
 */
void qcow2_crypto_name(const struct qcow2_crypto *c, char *buf, size_t size)
{
	static const char *const ivgen[] = {
		[QCOW2_IV_NONE] = "", [QCOW2_IV_PLAIN] = "-plain",
		[QCOW2_IV_PLAIN64] = "-plain64", [QCOW2_IV_ESSIV] = "-essiv:",
	};

	snprintf(buf, size, "%s-%s%s%s", c->cipher, c->mode, ivgen[c->ivgen],
		 c->ivhash);
}

/**
 * qcow2_crypto_open() - decode how an encrypted image encrypts its data
 * @img: an image whose header and extensions are decoded, with a
 *	crypt_method other than QCOW2_CRYPT_NONE
 * @io: how to read the file
 *
 * Return: 0, or -errno with img->err set: -EINVAL for a malformed LUKS
 * header, -EOPNOTSUPP for a LUKS version or mode QEMU does not read.
 */
int qcow2_crypto_open(struct qcow2_image *img, const struct qcow2_io *io)
{
	struct qcow2_crypto *c = &img->crypto;

	if (img->crypt_method == QCOW2_CRYPT_AES) {
		/* QEMU's qcrypto_block_qcow_init(): AES-128-CBC, plain64. */
		luks_copy_name(c->cipher, "aes", strlen("aes"));
		luks_copy_name(c->mode, "cbc", strlen("cbc"));
		c->ivgen = QCOW2_IV_PLAIN64;
		c->key_bytes = 16;
		c->guest_iv = true;
		return 0;
	}
	return qcow2_luks_open(img, io);
}
