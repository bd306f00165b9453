//! A small, explicit little-endian binary codec for world snapshots.
//!
//! Every field is written in a fixed order; readers check lengths and report
//! truncation as an error instead of panicking.

use crate::error::{CoreError, CoreResult};

/// Appends values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes a `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a `bool` as one byte.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Writes a `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes an `i32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes an `f32` bit-exactly.
    pub fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// Writes an `f64` bit-exactly.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// Writes a length prefix (as `u32`).
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("collection longer than u32::MAX"));
    }
}

/// Reads values back in the order they were written.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn take<const N: usize>(&mut self) -> CoreResult<[u8; N]> {
        let end = self
            .pos
            .checked_add(N)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                CoreError::InvalidArgument(format!("snapshot truncated at byte {} (needed {N} more)", self.pos))
            })?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> CoreResult<u8> {
        Ok(self.take::<1>()?[0])
    }

    /// Reads a `bool`; any byte other than 0 or 1 is an error.
    pub fn bool(&mut self) -> CoreResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(CoreError::InvalidArgument(format!(
                "corrupt boolean byte {b} at {}",
                self.pos - 1
            ))),
        }
    }

    /// Reads a `u16`.
    pub fn u16(&mut self) -> CoreResult<u16> {
        Ok(u16::from_le_bytes(self.take()?))
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> CoreResult<u32> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    /// Reads an `i32`.
    pub fn i32(&mut self) -> CoreResult<i32> {
        Ok(i32::from_le_bytes(self.take()?))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> CoreResult<u64> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// Reads an `f32`.
    pub fn f32(&mut self) -> CoreResult<f32> {
        Ok(f32::from_bits(self.u32()?))
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> CoreResult<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Reads a length prefix, refusing lengths above `max` (corruption guard).
    pub fn len(&mut self, max: usize) -> CoreResult<usize> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(CoreError::InvalidArgument(format!(
                "corrupt length {n} (limit {max}) at {}",
                self.pos - 4
            )));
        }
        Ok(n)
    }

    /// Errors unless every byte was consumed.
    pub fn finish(&self) -> CoreResult<()> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(CoreError::InvalidArgument(format!(
                "{} trailing bytes after snapshot",
                self.buf.len() - self.pos
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::new();
        w.u8(7);
        w.bool(true);
        w.u16(65_000);
        w.i32(-5);
        w.u64(u64::MAX);
        w.f32(0.1);
        w.f64(-0.0);
        w.len(3);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.bool().unwrap());
        assert_eq!(r.u16().unwrap(), 65_000);
        assert_eq!(r.i32().unwrap(), -5);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.f32().unwrap().to_bits(), 0.1f32.to_bits());
        assert_eq!(r.f64().unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(r.len(3).unwrap(), 3);
        r.finish().unwrap();
        let mut short = Reader::new(&bytes[..5]);
        short.u8().unwrap();
        short.bool().unwrap();
        assert!(short.u16().is_ok());
        assert!(short.i32().is_err());
        assert!(Reader::new(&[2]).bool().is_err());
        let mut w = Writer::new();
        w.len(10);
        assert!(Reader::new(&w.into_bytes()).len(5).is_err());
        assert!(Reader::new(&[1, 2]).finish().is_err());
    }
}
