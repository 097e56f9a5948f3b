//! CRC32c (Castagnoli, reflected polynomial 0x82f63b78), the checksum of every SCTP packet.
//!
//! Eight bytes a step with eight tables ("slicing-by-8"): every byte of every packet is
//! checksummed twice (sent and received), and a table per byte made that a fifth of the
//! association's time in a bulk transfer.

use std::sync::LazyLock;

static TABLES: LazyLock<[[u32; 256]; 8]> = LazyLock::new(|| {
    let mut tables = [[0u32; 256]; 8];
    for (i, entry) in tables[0].iter_mut().enumerate() {
        let mut crc = i as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
        *entry = crc;
    }
    for i in 0..256 {
        for k in 1..8 {
            let previous = tables[k - 1][i];
            tables[k][i] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
        }
    }
    tables
});

/// A checksum computed over several pieces.
pub(crate) struct Crc32c(u32);

impl Crc32c {
    pub(crate) fn new() -> Crc32c {
        Crc32c(!0)
    }

    pub(crate) fn update(mut self, bytes: &[u8]) -> Crc32c {
        let tables = &*TABLES;
        let mut crc = self.0;
        let mut blocks = bytes.chunks_exact(8);
        for block in &mut blocks {
            let low = u32::from_le_bytes([block[0], block[1], block[2], block[3]]) ^ crc;
            let high = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
            crc = tables[7][(low & 0xff) as usize]
                ^ tables[6][((low >> 8) & 0xff) as usize]
                ^ tables[5][((low >> 16) & 0xff) as usize]
                ^ tables[4][(low >> 24) as usize]
                ^ tables[3][(high & 0xff) as usize]
                ^ tables[2][((high >> 8) & 0xff) as usize]
                ^ tables[1][((high >> 16) & 0xff) as usize]
                ^ tables[0][(high >> 24) as usize];
        }
        for &byte in blocks.remainder() {
            crc = tables[0][usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
        }
        self.0 = crc;
        self
    }

    pub(crate) fn finish(self) -> u32 {
        !self.0
    }
}

/// The checksum of one buffer.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    Crc32c::new().update(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition, a bit at a time.
    fn reference(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn matches_the_published_check_value_and_the_definition() {
        // RFC 3720 §B.4 and every CRC catalogue: CRC-32C of "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            assert_eq!(
                crc32c(&data[..len]),
                reference(&data[..len]),
                "length {len}"
            );
            // In pieces, split anywhere.
            let split = len / 3;
            let pieces = Crc32c::new()
                .update(&data[..split])
                .update(&data[split..len])
                .finish();
            assert_eq!(pieces, reference(&data[..len]));
        }
    }
}
