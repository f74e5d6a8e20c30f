//! The second-factor code typed at sign-in or step-up: no panic; an
//! accepted TOTP code is exactly six ASCII digits once blanks are dropped; an
//! accepted recovery code is twelve letters of its alphabet, and the form
//! shown to the admin parses back to the same code; nothing over 64 bytes is
//! accepted. A TOTP check of any accepted code against a fixed secret at any
//! time never panics, and a matched step is within one step of that time
//! (RFC 6238 §5.2).
#![no_main]

use keyward::domain::two_factor::{FactorCode, RecoveryCode, TotpSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(code) = FactorCode::parse(text) else {
        return;
    };
    assert!(text.len() <= 64, "{text:?}");
    match code {
        FactorCode::Totp(totp) => {
            let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(digits.len(), 6, "{text:?}");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{text:?}");
            let secret = TotpSecret::from_bytes(*b"12345678901234567890");
            let time = u64::from(
                data.iter()
                    .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(*b))),
            );
            if let Some(step) = secret.check(&totp, time) {
                assert!(
                    step + 1 >= time / 30 && step <= time / 30 + 1,
                    "{step} at {time}"
                );
            }
        }
        FactorCode::Recovery(recovery) => {
            assert_eq!(recovery.as_str().len(), 12, "{text:?}");
            let shown = recovery.display();
            assert_eq!(RecoveryCode::parse(&shown).as_ref(), Ok(&recovery));
        }
    }
});
