# Makes vectors.tsv: python3 gen_vectors.py > vectors.tsv
# Each line: the password as hex (UTF-8), a tab, the hash as werkzeug's
# security._hash_internal writes it (werkzeug 3: scrypt with
# hashlib.scrypt(password, salt=salt, n=N, r=r, p=p, maxmem=132*N*r*p),
# dklen 64; pbkdf2 with hashlib.pbkdf2_hmac("sha256", password, salt, N),
# dklen 32), salt text as UTF-8 bytes. Fixed salts, so the file is
# reproducible; checked against werkzeug.security.check_password_hash when
# werkzeug is installed.
import hashlib

vecs = [
    ("scrypt", 32768, 8, 1, "ZbSGCvxbTWd5Ovyw", "password1234"),  # werkzeug's default
    ("scrypt", 1024, 8, 1, "a", "mlflow"),  # the lowest N accepted
    ("scrypt", 16384, 16, 2, "Ünïcode-salt", "pässwörd €"),
    ("scrypt", 65536, 8, 1, "maxN", ""),  # the highest N accepted
    ("pbkdf2", 600000, 0, 0, "2iD8QrYXZb1VTy1P", "password1234"),  # werkzeug 3's default
    ("pbkdf2", 1000, 0, 0, "s", "x"),
    ("pbkdf2", 260000, 0, 0, "ÜmlautSalt", "pässwörd €"),
]
try:
    from werkzeug.security import check_password_hash
except ImportError:
    check_password_hash = None
for kind, n, r, p, salt, pw in vecs:
    if kind == "scrypt":
        d = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p)
        h = f"scrypt:{n}:{r}:{p}${salt}${d.hex()}"
    else:
        d = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt.encode(), n)
        h = f"pbkdf2:sha256:{n}${salt}${d.hex()}"
    if check_password_hash is not None:
        assert check_password_hash(h, pw) and not check_password_hash(h, pw + "x")
    print(pw.encode().hex() + "\t" + h)
