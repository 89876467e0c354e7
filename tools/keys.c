// SPDX-License-Identifier: GPL-2.0-only
/*
 * The keys of encrypted images, for attach: passphrases from key files,
 * the kernel keyring or a prompt, tried on every encrypted image of the
 * chain.  LUKS key slots are unlocked with libcryptsetup: QEMU embeds a
 * LUKS1 header whose key material offsets count from the header's start,
 * so a copy of it (in a memfd) is a detached LUKS1 header that cryptsetup
 * loads as it is.  Legacy AES has no key check: its key is the
 * passphrase's first 16 bytes, zero-padded, as in QEMU.
 *
 * --key-desc names a key of the kernel keyring: a "user" key holds a
 * passphrase, read here; a "logon" key holds a volume key, which no
 * process can read: the module takes its description and reads it
 * itself, as dm-crypt does, and checks it against the LUKS header.
 *
 * Passphrases and keys stay in memory that is locked (kept out of swap,
 * as far as RLIMIT_MEMLOCK allows) and wiped before it is freed, in a
 * process that cannot be dumped or traced while it holds them, and go to
 * the kernel in the attach ioctl only.
 */
#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "chain.h"
#include "keys.h"
#include "qsnapctl.h"

/* As cryptsetup's default keyfile-size limit. */
#define PASSPHRASE_MAX	(8U << 20)
/* Key material of 8 slots of 64-byte keys takes 2 MiB; a header more is hostile. */
#define LUKS_HEADER_MAX	(16U << 20)
#define MAX_PASSPHRASES	16

struct passphrase {
	char *buf;
	size_t len;
};

/* The key files', and one more: --key-desc's or the prompt's. */
static struct passphrase pw[MAX_PASSPHRASES + 1];
static unsigned int nr_pw;
static const char *key_files[MAX_PASSPHRASES];
static unsigned int nr_key_files;
static const char *key_desc;
/* --key-desc named a logon key: a volume key only the kernel can read. */
static bool logon_key;

int keys_add_file(const char *path)
{
	if (nr_key_files == MAX_PASSPHRASES)
		return -1;
	key_files[nr_key_files++] = path;
	return 0;
}

void keys_set_desc(const char *desc)
{
	key_desc = desc;
}

static void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void keys_forget(void)
{
	unsigned int i;

	for (i = 0; i < nr_pw; i++)
		wipe_free(pw[i].buf, pw[i].len + 1);
	nr_pw = 0;
	logon_key = false;
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/*
 * Keep a secret out of swap.  Best effort: a user without CAP_IPC_LOCK
 * may lock RLIMIT_MEMLOCK bytes only (cryptsetup's own buffers are
 * locked by libcryptsetup).
 */
static void lock_secret(void *p, size_t len)
{
	mlock(p, len);
}

/* Take ownership of a passphrase of @len bytes at @buf. */
static void add_passphrase(char *buf, size_t len)
{
	lock_secret(buf, len + 1);
	pw[nr_pw].buf = buf;
	pw[nr_pw].len = len;
	nr_pw++;
}

/* All of @fd, as cryptsetup reads --key-file: the bytes, newlines and all. */
static int read_passphrase_fd(int fd, const char *what)
{
	size_t len = 0, size = 4096;
	char *buf = malloc(size), *grown;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 == size) {
			if (size > PASSPHRASE_MAX) {
				warnx("%s: a passphrase of more than %u bytes", what,
				      PASSPHRASE_MAX);
				wipe_free(buf, size);
				return -EFBIG;
			}
			grown = malloc(size * 2);
			if (!grown) {
				wipe_free(buf, size);
				return -ENOMEM;
			}
			memcpy(grown, buf, len);
			wipe_free(buf, size);
			buf = grown;
			size *= 2;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			warnx("%s: %s", what, strerror(errno));
			wipe_free(buf, size);
			return n;
		}
		if (!n)
			break;
		len += n;
	}
	buf[len] = '\0';
	add_passphrase(buf, len);
	return 0;
}

static int read_key_file(const char *path)
{
	int fd, ret;

	if (!strcmp(path, "-"))
		return read_passphrase_fd(STDIN_FILENO, "standard input");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		warnx("%s: %s", shown(path), strerror(errno));
		return -errno;
	}
	ret = read_passphrase_fd(fd, shown(path));
	close(fd);
	return ret;
}

/*
 * The key --key-desc names: a "user" key's passphrase, read; else a
 * "logon" key (whose descriptions have a "prefix:"), only found.
 */
static int read_key_desc(const char *desc)
{
	long id, len;
	char *buf;

	id = syscall(SYS_request_key, "user", desc, NULL, 0);
	if (id < 0 && errno == ENOKEY && strchr(desc, ':')) {
		id = syscall(SYS_request_key, "logon", desc, NULL, 0);
		if (id >= 0 && strlen(desc) >= QSNAP_KEY_MAX) {
			warnx("key '%s' (type logon): a description of at most %u bytes, please",
			      shown(desc), QSNAP_KEY_MAX - 1);
			return -EINVAL;
		}
		if (id >= 0) {
			logon_key = true;
			return 0;
		}
	}
	if (id < 0) {
		warnx("key '%s': %s (neither a user key holding a passphrase nor a logon key holding a volume key)",
		      shown(desc), strerror(errno));
		return -errno;
	}
	len = syscall(SYS_keyctl, KEYCTL_READ, id, NULL, 0);
	if (len < 0 || len > (long)PASSPHRASE_MAX) {
		warnx("key '%s': cannot read it: %s", shown(desc),
		      len < 0 ? strerror(errno) : "too long");
		return -EINVAL;
	}
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	if (syscall(SYS_keyctl, KEYCTL_READ, id, buf, len) != len) {
		wipe_free(buf, len + 1);
		warnx("key '%s': cannot read it: %s", shown(desc), strerror(errno));
		return -EIO;
	}
	buf[len] = '\0';
	add_passphrase(buf, len);
	return 0;
}

/* The terminal as it was before the prompt, for a signal to restore. */
static int prompt_fd = -1;
static struct termios prompt_saved;
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define PROMPT_SIGNALS	(sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* A signal at the prompt: echo back on, then die of the signal as before. */
static void prompt_signal(int sig)
{
	tcsetattr(prompt_fd, TCSAFLUSH, &prompt_saved);
	if (write(prompt_fd, "\n", 1) < 0) {
		/* nothing more to do on the way out */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ask on the terminal, without echo; the newline ends the passphrase. */
static int prompt_passphrase(const char *image)
{
	struct sigaction act = { .sa_handler = prompt_signal };
	struct sigaction saved[PROMPT_SIGNALS];
	struct termios quiet;
	size_t size = 4096, len = 0, i;
	char *buf;
	int fd, ret = 0;
	char ch;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -ENOTTY;
	buf = malloc(size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	lock_secret(buf, size);
	tcgetattr(fd, &prompt_saved);
	prompt_fd = fd;
	sigemptyset(&act.sa_mask);
	for (i = 0; i < PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &act, &saved[i]);
	quiet = prompt_saved;
	quiet.c_lflag &= ~(ECHO | ECHONL);
	/*
	 * Echo off (and what was typed before dropped) first, the prompt
	 * after: what is typed once the prompt shows is the passphrase.
	 */
	tcsetattr(fd, TCSAFLUSH, &quiet);
	dprintf(fd, "Passphrase for %s: ", shown(image));
	while (read(fd, &ch, 1) == 1 && ch != '\n') {
		if (len + 1 == size) {
			ret = -EFBIG;
			break;
		}
		buf[len++] = ch;
	}
	tcsetattr(fd, TCSAFLUSH, &prompt_saved);
	for (i = 0; i < PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &saved[i], NULL);
	prompt_fd = -1;
	dprintf(fd, "\n");
	close(fd);
	explicit_bzero(&ch, sizeof(ch));
	if (ret) {
		wipe_free(buf, size);
		return ret;
	}
	buf[len] = '\0';
	add_passphrase(buf, len);
	return 0;
}

/* The passphrases asked for, read once. */
static int load_passphrases(const char *image)
{
	unsigned int i;
	int ret;

	if (nr_pw || logon_key)
		return 0;
	/* No core dump or ptrace of the same user shows a passphrase. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (i = 0; i < nr_key_files; i++) {
		ret = read_key_file(key_files[i]);
		if (ret)
			return ret;
	}
	if (key_desc) {
		ret = read_key_desc(key_desc);
		if (ret)
			return ret;
	}
	if (!nr_pw && !logon_key && isatty(STDIN_FILENO))
		return prompt_passphrase(image);
	return 0;
}

/* libcryptsetup's messages: its errors only, and never to the console. */
static void cryptsetup_log(int level, const char *msg, void *usrptr)
{
	if (level == CRYPT_LOG_ERROR && usrptr)
		fprintf(stderr, "%s: libcryptsetup: %s", prog, msg);
}

/* A memfd holding the LUKS header and key material of layer @l. */
static int luks_header_copy(const struct chain_layer *l)
{
	const struct qcow2_crypto *c = &l->img.crypto;
	char buf[65536];
	u64 done = 0, len = c->header_length;
	ssize_t n;
	int fd;

	if (len > LUKS_HEADER_MAX) {
		warnx("%s: a LUKS header of %llu bytes (at most %u)", shown(l->path),
		      (unsigned long long)len, LUKS_HEADER_MAX);
		return -EFBIG;
	}
	fd = memfd_create("qsnap-luks-header", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < len) {
		n = pread(l->fd, buf, len - done < sizeof(buf) ? len - done : sizeof(buf),
			  c->header_offset + done);
		if (n <= 0 || write(fd, buf, n) != n) {
			warnx("%s: cannot read the LUKS header: %s", shown(l->path),
			      n < 0 ? strerror(errno) : "short read");
			close(fd);
			return -EIO;
		}
		done += n;
	}
	return fd;
}

/*
 * Unlock encrypted layer @l's key into @k with one of the passphrases:
 * its LUKS header is copied and loaded once, then each passphrase tried
 * on every key slot.  0, -EPERM when none fits (unsaid), or -errno after
 * saying why.
 */
static int unlock_layer(const struct chain_layer *l, struct qsnap_key *k)
{
	struct crypt_device *cd = NULL;
	size_t size;
	char path[64];
	unsigned int i;
	int fd, ret;

	k->size = l->img.crypto.key_bytes;
	if (l->img.crypt_method == QCOW2_CRYPT_AES) {
		/* No key check: the first passphrase is the key. */
		memcpy(k->key, pw[0].buf, pw[0].len < 16 ? pw[0].len : 16);
		return 0;
	}
	fd = luks_header_copy(l);
	if (fd < 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	crypt_set_log_callback(NULL, cryptsetup_log, NULL);
	ret = crypt_init(&cd, path);
	if (ret) {
		warnx("%s: libcryptsetup: %s", shown(l->path), strerror(-ret));
		goto out;
	}
	crypt_set_log_callback(cd, cryptsetup_log, NULL);
	ret = crypt_load(cd, CRYPT_LUKS1, NULL);
	if (ret) {
		warnx("%s: libcryptsetup cannot load its LUKS header: %s",
		      shown(l->path), strerror(-ret));
		goto out;
	}
	ret = -EPERM;
	for (i = 0; i < nr_pw && ret == -EPERM; i++) {
		size = k->size;
		ret = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)k->key,
					   &size, pw[i].buf, pw[i].len);
		if (ret >= 0)
			ret = size == k->size ? 0 : -EINVAL;
	}
	if (ret && ret != -EPERM)
		warnx("%s: unlocking a key slot: %s", shown(l->path), strerror(-ret));
out:
	crypt_free(cd);
	close(fd);
	return ret;
}

/**
 * keys_for_chain() - the keys of the encrypted images of @c
 * @c: the opened chain
 * @image: the image as the user named it, for messages
 * @keys: out: one key per encrypted layer
 * @n: out: how many
 *
 * Return: 0 (also when nothing is encrypted), or -1 after saying why.
 */
int keys_for_chain(const struct chain *c, const char *image,
		   struct qsnap_key *keys, unsigned int *n)
{
	char name[96];
	unsigned int i;
	int ret;

	*n = 0;
	/* An image that does not parse goes to the kernel to be refused. */
	if (c->top_err[0])
		return 0;
	for (i = 0; i < c->n; i++) {
		const struct chain_layer *l = &c->layers[i];

		if (!l->has_img || l->img.crypt_method == QCOW2_CRYPT_NONE)
			continue;
		if (load_passphrases(image))
			return -1;
		if (!nr_pw && !logon_key) {
			qcow2_crypto_name(&l->img.crypto, name, sizeof(name));
			warnx("%s is encrypted (%s %s): give its passphrase with --key-file FILE (- for standard input) or --key-desc DESC",
			      shown(l->path), l->img.crypt_method == QCOW2_CRYPT_LUKS ?
			      "LUKS" : "legacy AES", name);
			return -1;
		}
		memset(&keys[*n], 0, sizeof(keys[*n]));
		keys[*n].layer = i;
		ret = nr_pw ? unlock_layer(l, &keys[*n]) : -EPERM;
		if (ret == -EPERM && logon_key) {
			/* The kernel reads it, and checks it is this layer's. */
			explicit_bzero(&keys[*n], sizeof(keys[*n]));
			keys[*n].layer = i;
			keys[*n].flags = QSNAP_KEY_F_KEYRING;
			keys[*n].size = strlen(key_desc);
			memcpy(keys[*n].key, key_desc, keys[*n].size);
		} else if (ret == -EPERM) {
			warnx("no key slot of %s matches the passphrase%s",
			      shown(l->path), nr_pw > 1 ? "s" : "");
			return -1;
		} else if (ret) {
			return -1;
		}
		(*n)++;
	}
	return 0;
}
