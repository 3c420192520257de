//! Member card numbers: eleven digits, the member's id padded to ten and a Luhn check
//! digit, so a mistyped digit at the till is caught before any look-up. Derived from the
//! id, so giving one out needs no counter and a retried write gives the same number.

use crate::ingest::MemberId;

/// The card number of member `id` (ids beyond ten digits keep all their digits).
pub fn card_number(id: MemberId) -> String {
    let body = format!("{id:010}");
    format!("{body}{}", luhn_digit(&body))
}

/// Whether `text` is a well-formed card number (digits with a valid check digit).
pub fn is_card_number(text: &str) -> bool {
    text.len() >= 11
        && text.bytes().all(|b| b.is_ascii_digit())
        && luhn_digit(&text[..text.len() - 1]) == text.as_bytes()[text.len() - 1] - b'0'
}

fn luhn_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_a_check_digit_that_catches_a_mistyped_digit() {
        assert_eq!(card_number(12), "00000000125");
        assert!(is_card_number(&card_number(12)));
        assert!(is_card_number(&card_number(9_876_543_210)));
        for id in [1, 42, 1_000_003] {
            let good = card_number(id);
            for pos in 0..good.len() {
                let mut bad = good.clone().into_bytes();
                bad[pos] = if bad[pos] == b'9' { b'0' } else { bad[pos] + 1 };
                let bad = String::from_utf8(bad).unwrap();
                assert!(!is_card_number(&bad), "{bad} passes");
            }
        }
        assert!(!is_card_number("12345"));
        assert!(!is_card_number("0000000012a"));
    }
}
