//! WeChat's callback signatures and safe-mode encryption, as the platform documents them
//! for both the official account and WeCom:
//!
//! - a signature is the hex SHA-1 of its parts (the token, the timestamp, the nonce and,
//!   for an encrypted message, the ciphertext) sorted as byte strings and joined;
//! - the AES key is the 43-character EncodingAESKey with `=` added, base64-decoded (32
//!   bytes); messages are AES-256-CBC with the key's first 16 bytes as the IV, padded
//!   PKCS#7 to 32-byte blocks; the plaintext is 16 random bytes, the message's length
//!   (4 bytes, big-endian), the message, then the app id (or corp id) it was meant for.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha1::{Digest, Sha1};

type Decryptor = cbc::Decryptor<aes::Aes256>;
type Encryptor = cbc::Encryptor<aes::Aes256>;

/// The platform makes EncodingAESKeys of 43 random characters, so the last one's low
/// bits are seldom zero: decoded as its own libraries do, leniently.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// WeChat pads to this, not to AES's 16.
const PAD_BLOCK: usize = 32;

/// Why a message could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum CryptError {
    /// Not base64, not whole blocks, bad padding or a length that overruns.
    Malformed(&'static str),
    /// Decrypted, but addressed to another app id or corp id.
    WrongRecipient,
}

/// The hex SHA-1 of `parts`, sorted and joined.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let digest = Sha1::digest(sorted.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares signatures without stopping at the first difference.
pub fn same_signature(expected: &str, given: &str) -> bool {
    let (a, b) = (
        expected.as_bytes(),
        given.trim().to_ascii_lowercase().into_bytes(),
    );
    a.len() == b.len() && a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An account's key and the id its messages must name.
#[derive(Clone)]
pub struct MessageCrypt {
    key: [u8; 32],
    recipient: String,
}

impl MessageCrypt {
    /// From the 43-character EncodingAESKey; the reason when it is not one.
    pub fn new(encoding_aes_key: &str, recipient: &str) -> Result<MessageCrypt, String> {
        let bytes = KEY_BASE64
            .decode(format!("{}=", encoding_aes_key.trim()))
            .map_err(|_| "encoding_aes_key must be the 43 base64 characters WeChat gives")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "encoding_aes_key must decode to 32 bytes (43 characters)")?;
        Ok(MessageCrypt {
            key,
            recipient: recipient.to_owned(),
        })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// The message inside a base64 ciphertext, checked to be addressed to this account.
    pub fn decrypt(&self, ciphertext: &str) -> Result<String, CryptError> {
        let mut buf = STANDARD
            .decode(ciphertext.trim())
            .map_err(|_| CryptError::Malformed("not base64"))?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptError::Malformed("not whole AES blocks"));
        }
        let plain = Decryptor::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| CryptError::Malformed("not whole AES blocks"))?;
        let pad = *plain.last().unwrap_or(&0) as usize;
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(CryptError::Malformed("bad padding"));
        }
        let content = &plain[..plain.len() - pad];
        if content.len() < 20 {
            return Err(CryptError::Malformed("too short"));
        }
        let len = u32::from_be_bytes([content[16], content[17], content[18], content[19]]) as usize;
        let rest = &content[20..];
        if len > rest.len() {
            return Err(CryptError::Malformed("the length overruns the message"));
        }
        let (message, recipient) = rest.split_at(len);
        if recipient != self.recipient.as_bytes() {
            return Err(CryptError::WrongRecipient);
        }
        String::from_utf8(message.to_vec()).map_err(|_| CryptError::Malformed("not UTF-8"))
    }

    /// `message` encrypted for this account, with `random` as its 16 leading bytes.
    pub fn encrypt(&self, message: &str, random: [u8; 16]) -> String {
        let mut plain = random.to_vec();
        plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.recipient.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let len = plain.len();
        let sealed = Encryptor::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, len)
            .expect("whole blocks by construction");
        STANDARD.encode(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Its last character's low bits are not zero, as in most real keys.
    const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

    #[test]
    fn a_signature_is_the_sha1_of_the_sorted_parts() {
        // sha1("1409304348" + "nonce" + "token"), the parts in byte order.
        let s = signature(&["token", "1409304348", "nonce"]);
        assert_eq!(s, signature(&["nonce", "token", "1409304348"]));
        assert_eq!(s.len(), 40);
        assert_eq!(s, format!("{:x}", Sha1::digest(b"1409304348noncetoken")));
        assert!(same_signature(&s, &s.to_uppercase()));
        assert!(!same_signature(&s, &s[..39]));
    }

    #[test]
    fn a_message_round_trips_and_must_be_addressed_to_this_account() {
        let crypt = MessageCrypt::new(KEY, "wx1234").unwrap();
        let xml = "<xml><MsgType>text</MsgType><Content>你好</Content></xml>";
        let sealed = crypt.encrypt(xml, [7; 16]);
        assert_eq!(crypt.decrypt(&sealed).unwrap(), xml);
        let other = MessageCrypt::new(KEY, "wx9999").unwrap();
        assert_eq!(other.decrypt(&sealed), Err(CryptError::WrongRecipient));
        assert!(matches!(
            crypt.decrypt("not base64!"),
            Err(CryptError::Malformed(_))
        ));
        assert!(matches!(
            crypt.decrypt("AAAA"),
            Err(CryptError::Malformed(_))
        ));
        assert!(MessageCrypt::new("short", "wx").is_err());
    }
}
