//! crypt(3) from the system's libcrypt, for htpasswd hashes relight does not compute itself
//! (DES, `$5$`, `$6$`, `$2y$` bcrypt...). This is the only place that calls it; calls are
//! serialized because crypt(3) returns a static buffer.

use std::ffi::{CStr, CString, c_char};
use std::sync::Mutex;

// glibc keeps crypt(3) in libcrypt; musl (OpenWrt's libc) has it in libc itself.
#[cfg_attr(not(target_env = "musl"), link(name = "crypt"))]
#[allow(unsafe_code)]
unsafe extern "C" {
    fn crypt(key: *const c_char, salt: *const c_char) -> *mut c_char;
}

static LOCK: Mutex<()> = Mutex::new(());

/// crypt(3) of `password` with `setting` (a whole stored hash will do); `None` when the
/// library does not know the method or an argument holds a NUL byte.
pub(super) fn crypt3(password: &[u8], setting: &str) -> Option<String> {
    let key = CString::new(password).ok()?;
    let salt = CString::new(setting).ok()?;
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call; crypt
    // returns NULL or a pointer to a NUL-terminated static buffer, which is copied out while
    // LOCK keeps every other caller of crypt in this process from overwriting it.
    #[allow(unsafe_code)]
    let out = unsafe { crypt(key.as_ptr(), salt.as_ptr()) };
    if out.is_null() {
        return None;
    }
    // SAFETY: `out` is non-null and points at crypt's NUL-terminated result (see above).
    #[allow(unsafe_code)]
    let s = unsafe { CStr::from_ptr(out) }.to_str().ok()?.to_owned();
    // libxcrypt answers an unknown method with a string starting with '*'.
    (!s.starts_with('*')).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods() {
        // `openssl passwd -1 -salt saltsalt secret`.
        assert_eq!(
            crypt3(b"secret", "$1$saltsalt$").as_deref(),
            Some("$1$saltsalt$9xy1btjgzLYfb7hivXtC//")
        );
        let sha512 = crypt3(b"secret", "$6$abcdefgh$").unwrap();
        assert!(sha512.starts_with("$6$abcdefgh$"), "{sha512}");
        assert_eq!(crypt3(b"secret", &sha512).as_deref(), Some(sha512.as_str()));
        assert_ne!(crypt3(b"wrong", &sha512).as_deref(), Some(sha512.as_str()));
        assert_eq!(crypt3(b"secret", "$nope$x"), None);
    }
}
