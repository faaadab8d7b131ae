/* SPDX-License-Identifier: MIT */
/*
 * Bytecode at index time.  conda compiles the site-packages .py files of
 * every noarch: python package when it installs them (the package ships no
 * bytecode: it does not know the interpreter); a read-only /env never gets
 * the chance, so every process would compile them again.  condafs compiles
 * them once, with the environment's own interpreter running from a
 * provisional index mounted at the prefix (so the paths compiled into the
 * code objects are the served ones), in unchecked-hash mode (PEP 552):
 * reproducible, independent of mtimes, and Python never reads the source
 * to validate it.  docs/bytecode.md explains the choice.
 *
 * Results are remembered in the package cache, under pyc/, keyed by the
 * interpreter package, the served path and the source's digest, so that
 * indexing an unchanged lock again compiles nothing.
 */
#include "compile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "log.h"

/* Bumped when the compiled form changes: the mode, the script's flags. */
#define PYC_KEY_VERSION "condafs-pyc 2 unchecked-hash -S"

/*
 * The compiler, run as PYTHON -E -S -B SCRIPT driver LIST OUT JOBS.  The
 * driver starts JOBS workers with a clean environment (PYTHONHASHSEED=0,
 * so that set constants marshal in one order) and without the site module
 * (marshal writes an object once and refers back to it when something else
 * holds it too, so what .pth files import would change the bytes), worker K
 * compiling sources
 * K, K + JOBS, ... of the NUL-separated LIST into OUT/I.pyc and reporting
 * "I<TAB>pyc path" or "I<TAB>!<TAB>error" lines in OUT/K.done.
 */
static const char compile_script[] =
	"import importlib.util, os, py_compile, subprocess, sys\n"
	"def worker(lst, out, k, j):\n"
	"    with open(lst, 'rb') as f:\n"
	"        srcs = [os.fsdecode(s) for s in f.read().split(b'\\0')[:-1]]\n"
	"    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH\n"
	"    with open(os.path.join(out, '%d.done' % k), 'w', encoding='utf-8',\n"
	"              errors='surrogateescape') as done:\n"
	"        for i in range(k, len(srcs), j):\n"
	"            src = srcs[i]\n"
	"            try:\n"
	"                py_compile.compile(src, cfile=os.path.join(out, '%d.pyc' % i),\n"
	"                                   dfile=src, doraise=True, invalidation_mode=mode)\n"
	"            except Exception as e:\n"
	"                msg = ('%s: %s' % (type(e).__name__, e)).replace('\\n', ' ')\n"
	"                done.write('%d\\t!\\t%s\\n' % (i, msg))\n"
	"                continue\n"
	"            done.write('%d\\t%s\\n' % (i, importlib.util.cache_from_source(src)))\n"
	"def main():\n"
	"    role, lst, out, j = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])\n"
	"    if role == 'worker':\n"
	"        worker(lst, out, int(sys.argv[5]), j)\n"
	"        return 0\n"
	"    env = {'PYTHONHASHSEED': '0', 'LC_ALL': 'C.UTF-8'}\n"
	"    kids = [subprocess.Popen([sys.executable, '-S', '-B', sys.argv[0], 'worker',\n"
	"                              lst, out, str(j), str(k)], env=env) for k in range(j)]\n"
	"    return max(p.wait() for p in kids)\n"
	"sys.exit(main())\n";

struct source {
	size_t pkg, entry;
	bool done, failed; /* compiled; refused by Python */
	char *pyc;      /* relative to the prefix */
	uint8_t digest[CFS_SHA256_LEN];
	uint64_t size, csize;
};

static bool is_noarch_python(const struct cfs_package *p)
{
	/* Wheels too: pip compiles what it installs, as conda does. */
	return (p->noarch && strcmp(p->noarch, "python") == 0) ||
	       (p->lock && p->lock->manager == CFS_MGR_PIP);
}

/* What conda compiles: the .py files a noarch: python package puts in
 * site-packages, by package and entry (the order the rest relies on). */
static size_t collect(const struct cfs_compile_opts *o, const struct cfs_lock *lock,
		      const struct cfs_package *pkgs, struct source **out)
{
	cleanup_free char *sp = cfs_xasprintf("lib/python%s/site-packages/", o->python_xy);
	struct source *v = NULL;
	size_t n = 0, alloc = 0;

	for (size_t i = 0; i < lock->n_pkgs; i++) {
		if (!is_noarch_python(&pkgs[i]))
			continue;
		for (size_t k = 0; k < pkgs[i].n_entries; k++) {
			const struct cfs_entry *e = &pkgs[i].entries[k];
			if (!S_ISREG(e->mode) || strncmp(e->path, sp, strlen(sp)) != 0 ||
			    !cfs_ends_with(e->path, ".py"))
				continue;
			cfs_grow(&v, n + 1, &alloc, sizeof(*v), 1024);
			memset(&v[n], 0, sizeof(v[n]));
			v[n].pkg = i;
			v[n].entry = k;
			n++;
		}
	}
	*out = v;
	return n;
}

static const struct cfs_package *python_package(const struct cfs_lock *lock,
						const struct cfs_package *pkgs)
{
	for (size_t i = 0; i < lock->n_pkgs; i++)
		if (strcmp(lock->pkgs[i].name, "python") == 0)
			return &pkgs[i];
	return NULL;
}

/* A package's memo: what its sources compiled to, for one interpreter and prefix. */
static char *memo_path(const struct cfs_compile_opts *o, const struct cfs_package *python,
		       const struct cfs_package *p)
{
	char hex[2 * CFS_SHA256_LEN + 1], key_hex[2 * CFS_SHA256_LEN + 1];
	uint8_t key[CFS_SHA256_LEN];
	struct cfs_buf b;

	cfs_buf_init(&b, SIZE_MAX);
	cfs_hex(python->sha256, CFS_SHA256_LEN, hex);
	cfs_buf_printf(&b, "%s\n%s\n%s\n", PYC_KEY_VERSION, hex, o->prefix);
	cfs_hex(p->sha256, CFS_SHA256_LEN, hex);
	cfs_buf_printf(&b, "%s\n", hex);
	cfs_sha256(b.data, b.len, key);
	cfs_buf_release(&b);
	cfs_hex(key, CFS_SHA256_LEN, key_hex);
	return cfs_xasprintf("%s/pyc/%.2s/%s", o->cache_dir, key_hex, key_hex + 2);
}

/*
 * Fills v[0..n), the sources of package p in order, from its memo: a line
 * per source, "SOURCE<TAB>SHA256<TAB>SIZE<TAB>CSIZE<TAB>PYC" or
 * "SOURCE<TAB>!" for one Python refused.  All or nothing, and only while
 * the store still holds every object.
 */
static bool recall(const struct cfs_compile_opts *o, const struct cfs_package *python,
		   const struct cfs_package *p, struct source *v, size_t n)
{
	cleanup_free char *path = memo_path(o, python, p);
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, k = 0;
	ssize_t len;
	bool ok = f != NULL;

	while (ok && k < n && (len = getline(&line, &cap, f)) > 0) {
		const char *src = p->entries[v[k].entry].path;
		size_t sl = strlen(src);
		char hex[2 * CFS_SHA256_LEN + 1];
		unsigned long long size, csize;
		int pos = 0;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if ((size_t)len <= sl || strncmp(line, src, sl) != 0 || line[sl] != '\t') {
			ok = false;
		} else if (strcmp(line + sl + 1, "!") == 0) {
			v[k].failed = true;
		} else if (sscanf(line + sl + 1, "%64[0-9a-f]\t%llu\t%llu\t%n", hex, &size, &csize,
				  &pos) != 3 || !pos ||
			   cfs_unhex(hex, v[k].digest, CFS_SHA256_LEN) < 0 ||
			   !cfs_store_has(o->store, v[k].digest)) {
			ok = false;
		} else {
			v[k].pyc = cfs_xstrdup(line + sl + 1 + pos);
			v[k].size = size;
			v[k].csize = csize;
			v[k].done = true;
		}
		k++;
	}
	free(line);
	if (f)
		fclose(f);
	if (ok && k == n)
		return true;
	for (size_t i = 0; i < n; i++) {
		free(v[i].pyc);
		v[i].pyc = NULL;
		v[i].done = v[i].failed = false;
	}
	return false;
}

static void remember(const struct cfs_compile_opts *o, const struct cfs_package *python,
		     const struct cfs_package *p, const struct source *v, size_t n)
{
	cleanup_free char *path = memo_path(o, python, p);
	cleanup_free char *dir = cfs_xstrndup(path, (size_t)(strrchr(path, '/') - path));
	char hex[2 * CFS_SHA256_LEN + 1];
	struct cfs_buf b;

	cfs_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		const char *src = p->entries[v[i].entry].path;
		if (v[i].done) {
			cfs_hex(v[i].digest, CFS_SHA256_LEN, hex);
			cfs_buf_printf(&b, "%s\t%s\t%llu\t%llu\t%s\n", src, hex,
				       (unsigned long long)v[i].size,
				       (unsigned long long)v[i].csize, v[i].pyc);
		} else {
			cfs_buf_printf(&b, "%s\t!\n", src);
		}
	}
	/* A lost memo only costs compiling again next time. */
	if (cfs_mkdir_p(dir, 0755) < 0 || cfs_write_file_atomic(path, b.data, b.len, 0644) < 0)
		cfs_debug("%s: cannot remember %s's bytecode", path, p->lock->fn);
	cfs_buf_release(&b);
}

/* Writes the script, the list of sources (absolute, NUL-separated) and the out directory. */
static errint_t write_inputs(const struct cfs_compile_opts *o, const struct cfs_package *pkgs,
			     struct source *const *todo, size_t n, const char *script,
			     const char *list, const char *out, struct cfs_err *err)
{
	struct cfs_buf b;
	int r;

	cfs_buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < n; i++) {
		cfs_buf_printf(&b, "%s/%s", o->prefix,
			       pkgs[todo[i]->pkg].entries[todo[i]->entry].path);
		cfs_buf_add(&b, "", 1);
	}
	r = cfs_write_file_atomic(list, b.data, b.len, 0644);
	cfs_buf_release(&b);
	if (r == 0)
		r = cfs_write_file_atomic(script, compile_script, strlen(compile_script), 0644);
	if (r == 0 && mkdir(out, 0755) < 0)
		r = -errno;
	if (r < 0)
		return cfs_err_set(err, -r, "%s: cannot write the compiler's inputs: %s", list,
				   strerror(-r));
	return 0;
}

/*
 * Reads OUT/K.done of every worker into todo.  What the interpreter left
 * wrong (a worker's report missing, an odd line) sets *bad and err: no
 * bytecode then, with a warning; a store that cannot be written fails.
 */
static errint_t read_results(const struct cfs_compile_opts *o, const struct cfs_package *pkgs,
			     const char *tmp, int jobs, struct source **todo, size_t n_todo,
			     bool *bad, struct cfs_err *err)
{
	size_t plen = strlen(o->prefix);

	for (int k = 0; k < jobs; k++) {
		cleanup_free char *done = cfs_xasprintf("%s/out/%d.done", tmp, k);
		FILE *f = fopen(done, "re");
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		int r = 0;

		if (!f) {
			*bad = true;
			return cfs_err_set(err, EIO, "no report from compile worker %d", k);
		}
		while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
			char *tab = strchr(line, '\t');
			char *end;
			unsigned long i = strtoul(line, &end, 10);
			struct source *s;

			line[len - 1] = line[len - 1] == '\n' ? '\0' : line[len - 1];
			if (!tab || end != tab || i >= n_todo) {
				*bad = true;
				r = cfs_err_set(err, EIO, "unexpected report: %s", line);
				break;
			}
			s = todo[i];
			if (tab[1] == '!') {
				s->failed = true;
				cfs_info("%s: %s: left without bytecode: %s", pkgs[s->pkg].lock->fn,
					 pkgs[s->pkg].entries[s->entry].path, tab + 3);
				continue;
			}
			if (strncmp(tab + 1, o->prefix, plen) != 0 || tab[1 + plen] != '/') {
				*bad = true;
				r = cfs_err_set(err, EIO, "bytecode %s is outside %s", tab + 1,
						o->prefix);
				break;
			}
			cleanup_free char *pyc = cfs_xasprintf("%s/out/%lu.pyc", tmp, i);
			cleanup_free char *data = NULL;
			size_t dlen = 0;
			cleanup_fd int fd = open(pyc, O_RDONLY | O_CLOEXEC);
			struct stat st;

			if (fd < 0 || fstat(fd, &st) < 0) {
				*bad = true;
				r = cfs_err_set(err, EIO, "no bytecode for %s",
						pkgs[s->pkg].entries[s->entry].path);
				break;
			}
			dlen = (size_t)st.st_size;
			data = cfs_xmalloc(dlen ? dlen : 1);
			if (pread(fd, data, dlen, 0) != (ssize_t)dlen) {
				r = cfs_err_set(err, EIO, "%s: short read", pyc);
				break;
			}
			/* Magic (4 bytes), flags, then hash or mtime and size: 16 bytes. */
			if (dlen < 16) {
				*bad = true;
				r = cfs_err_set(err, EIO, "%s: %zu bytes, not bytecode", tab + 1, dlen);
				break;
			}
			if ((r = cfs_store_put(o->store, data, dlen, s->digest, &s->csize)) < 0) {
				r = cfs_err_set(err, -r, "%s: cannot write to the store: %s",
						o->store_dir, strerror(-r));
				break;
			}
			s->size = dlen;
			s->pyc = cfs_xstrdup(tab + 2 + plen);
			s->done = true;
		}
		free(line);
		fclose(f);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Runs the compiler on the sources not remembered; *ran is false when it did not compile. */
static errint_t compile_missing(const struct cfs_compile_opts *o, const struct cfs_package *pkgs,
				struct source **todo, size_t n_todo, bool *ran,
				struct cfs_err *err)
{
	const char *tmpdir = getenv("TMPDIR");
	cleanup_free char *tmp = cfs_xasprintf("%s/condafs-compile-XXXXXX",
					       tmpdir && *tmpdir ? tmpdir : "/tmp");
	cleanup_free char *python = cfs_xasprintf("%s/bin/python%s", o->prefix, o->python_xy);
	cleanup_free char *script = NULL, *list = NULL, *out = NULL, *index = NULL;
	char jobs_s[16];
	int jobs = o->jobs > 0 ? o->jobs : 1;
	struct cfs_err run_err = { 0 };
	int64_t t0 = cfs_now_ms();
	int r, status;

	*ran = false;
	if (!mkdtemp(tmp))
		return cfs_err_set(err, errno, "%s: %s", tmp, strerror(errno));
	if ((size_t)jobs > n_todo)
		jobs = (int)n_todo;
	snprintf(jobs_s, sizeof(jobs_s), "%d", jobs);
	script = cfs_xasprintf("%s/compile.py", tmp);
	list = cfs_xasprintf("%s/sources", tmp);
	out = cfs_xasprintf("%s/out", tmp);
	index = cfs_xasprintf("%s/env.cfs", tmp);
	r = write_inputs(o, pkgs, todo, n_todo, script, list, out, err);
	if (r == 0)
		r = o->write_tmp_index(o->write_ctx, index, err);
	cfs_debug("bytecode: provisional index written after %.2f s",
		  (double)(cfs_now_ms() - t0) / 1000);
	if (r == 0) {
		const char *argv[] = { python, "-E", "-S", "-B", script, "driver", list, out,
				       jobs_s, NULL };
		if (o->progress)
			cfs_info("compiling %zu Python files with python%s (%d jobs)", n_todo,
				 o->python_xy, jobs);
		status = o->run(index, o->store_dir, o->prefix, argv, &run_err);
		if (status < 0) {
			cfs_warn("cannot run python%s from the index to compile bytecode (%s): "
				 "the environment is served without bytecode", o->python_xy,
				 run_err.msg);
		} else if (status != 0) {
			cfs_warn("python%s from the index exited with status %d while compiling "
				 "bytecode: the environment is served without bytecode",
				 o->python_xy, status);
		} else {
			bool bad = false;

			cfs_debug("bytecode: compiled after %.2f s", (double)(cfs_now_ms() - t0) / 1000);
			r = read_results(o, pkgs, tmp, jobs, todo, n_todo, &bad, err);
			cfs_debug("bytecode: stored after %.2f s", (double)(cfs_now_ms() - t0) / 1000);
			if (bad) {
				cfs_warn("python%s from the index did not compile as asked (%s): "
					 "the environment is served without bytecode", o->python_xy,
					 err->msg);
				r = 0;
			} else {
				*ran = r == 0;
			}
		}
	}
	cfs_rmtree(tmp);
	return r;
}

/* Whether s is among the sources that were compiled now (todo is in v's order). */
static bool todo_has(struct source *const *todo, size_t n, const struct source *s)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (todo[mid] == s)
			return true;
		if (todo[mid] < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Adds the compiled files to their packages, with conda-meta's records (v by package). */
static errint_t add_to_packages(const struct cfs_compile_opts *o, struct cfs_package *pkgs,
				struct source *v, size_t n, struct cfs_err *err)
{
	for (size_t i = 0; i < n;) {
		size_t pkg = v[i].pkg, j = i, k = 0;
		struct cfs_package *p = &pkgs[pkg];
		const char **paths;
		int r;

		while (j < n && v[j].pkg == pkg)
			j++;
		paths = cfs_xcalloc(j - i, sizeof(*paths));
		for (size_t s = i; s < j; s++) {
			struct cfs_entry *e;
			int64_t mtime = p->entries[v[s].entry].mtime;

			if (!v[s].done)
				continue;
			e = cfs_package_add_entry(p, v[s].pyc, S_IFREG | 0644);
			e->size = v[s].size;
			e->csize = v[s].csize;
			e->mtime = mtime;
			memcpy(e->digest, v[s].digest, CFS_SHA256_LEN);
			p->bytes += v[s].size;
			paths[k++] = v[s].pyc;
		}
		r = k ? cfs_package_list_pycs(p, paths, k, o->store, err) : 0;
		free(paths);
		if (r < 0)
			return r;
		i = j;
	}
	return 0;
}

errint_t cfs_compile_packages(const struct cfs_compile_opts *o, const struct cfs_lock *lock,
			      struct cfs_package *pkgs, struct cfs_compile_result *res,
			      struct cfs_err *err)
{
	const struct cfs_package *python;
	struct source *v = NULL, **todo = NULL;
	size_t n, n_todo = 0;
	bool ran = true;
	int r = 0;

	memset(res, 0, sizeof(*res));
	res->skipped = true;
	if (!o->python_xy || !(python = python_package(lock, pkgs))) {
		for (size_t i = 0; i < lock->n_pkgs; i++) {
			if (is_noarch_python(&pkgs[i])) {
				cfs_warn("%s: the lock has no python: the environment is served "
					 "without bytecode", lock->path);
				break;
			}
		}
		return 0;
	}
	n = collect(o, lock, pkgs, &v);
	res->sources = n;
	if (!n) {
		free(v);
		res->skipped = false;
		return 0;
	}
	todo = cfs_xcalloc(n, sizeof(*todo));
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && v[j].pkg == v[i].pkg; j++)
			;
		if (recall(o, python, &pkgs[v[i].pkg], v + i, j - i)) {
			res->reused += j - i;
			continue;
		}
		for (size_t k = i; k < j; k++)
			todo[n_todo++] = &v[k];
	}
	if (n_todo && strcmp(lock->platform, cfs_lock_host_platform()) != 0) {
		cfs_warn("%s: python%s of the lock is for %s, and this machine is %s: the "
			 "environment is served without bytecode", lock->path, o->python_xy,
			 lock->platform, cfs_lock_host_platform());
		ran = false;
	} else if (n_todo && !o->run) {
		ran = false;
	} else if (n_todo) {
		r = compile_missing(o, pkgs, todo, n_todo, &ran, err);
	}
	if (r == 0 && ran && n_todo) {
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i; j < n && v[j].pkg == v[i].pkg; j++)
				;
			if (todo_has(todo, n_todo, &v[i]))
				remember(o, python, &pkgs[v[i].pkg], v + i, j - i);
		}
	}
	if (r == 0 && ran) {
		for (size_t i = 0; i < n; i++) {
			res->compiled += v[i].done;
			res->failed += v[i].failed;
		}
		r = add_to_packages(o, pkgs, v, n, err);
		res->skipped = false;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].pyc);
	free(todo);
	free(v);
	return r;
}
