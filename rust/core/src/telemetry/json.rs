//! The two JSON writers telemetry needs: strings and floats.

use std::fmt::Write;

/// Writes `s` as a JSON string, as Python's `json.dumps(..., ensure_ascii=False)`
/// does: escapes for `"`, `\` and control characters, the rest as it is.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escaped);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes a float as JSON, exactly as Python's `json.dumps` (its `repr`)
/// writes it: the shortest digits that read back as `v`, a `.0` on whole
/// numbers, and an exponent (`1e-05`, `1.5e+16`) below 1e-4 and from 1e16
/// up. NaN and infinities, which JSON lacks, are written `0.0`.
#[allow(clippy::float_cmp)] // an exact test for a whole number
pub fn write_f64(out: &mut String, v: f64) {
    let a = v.abs();
    if !v.is_finite() {
        out.push_str("0.0");
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
    } else if !(1e-4..1e16).contains(&a) {
        write_exponent(out, v);
    } else if v == v.trunc() && a < 1e15 {
        // whole numbers: integer digits (formatting `{v:.1}` takes the slow exact path)
        write_int(out, v as i64);
        out.push_str(".0");
    } else if v == v.trunc() {
        let _ = write!(out, "{v:.1}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes `v` in Python's exponent form: `1e-05`, `-2.5e+16` (shortest
/// digits, a sign and at least two digits in the exponent).
fn write_exponent(out: &mut String, v: f64) {
    let start = out.len();
    let _ = write!(out, "{v:e}"); // `1e-5`, `-2.5e16`: the shortest digits
    let Some(at) = out[start..].find('e').map(|i| start + i) else {
        return;
    };
    let exponent: i32 = out[at + 1..].parse().unwrap_or(0);
    out.truncate(at);
    out.push_str(if exponent < 0 { "e-" } else { "e+" });
    if exponent.abs() < 10 {
        out.push('0');
    }
    write_int(out, i64::from(exponent.abs()));
}

/// Writes an integer.
pub fn write_int(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    push_digits(out, &buf[i..]);
}

/// Writes `q / 10^decimals` (decimals 1 to 6) as JSON, exactly as
/// [`write_f64`] would write that quotient: the shortest form, `.0` on
/// whole numbers (an exponent below 1e-4). Much faster than formatting the float.
pub fn write_fixed(out: &mut String, q: i64, decimals: u32) {
    debug_assert!((1..=6).contains(&decimals));
    let scale = 10u64.pow(decimals);
    let n = q.unsigned_abs();
    if n >= 1 << 52 || (n != 0 && n * 10_000 < scale) {
        // beyond exact float arithmetic, or written with an exponent: fall back to the float
        write_f64(out, q as f64 / scale as f64);
        return;
    }
    if q < 0 {
        out.push('-');
    }
    write_int(out, (n / scale) as i64);
    out.push('.');
    let mut frac = n % scale;
    if frac == 0 {
        out.push('0');
        return;
    }
    let mut width = decimals;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    let mut buf = [b'0'; 6];
    for slot in buf[..width as usize].iter_mut().rev() {
        *slot = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    push_digits(out, &buf[..width as usize]);
}

/// Appends ASCII digits.
fn push_digits(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&b| char::from(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = String::new();
        write_str(&mut out, v);
        out
    }

    fn f(v: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, v);
        out
    }

    #[test]
    fn fixed_point_matches_the_float() {
        for decimals in 1..=6u32 {
            let scale = 10f64.powi(decimals as i32);
            for q in (-2_500i64..2_500).chain([123_456_789, -987_654_321, 1 << 53]) {
                let mut fixed = String::new();
                write_fixed(&mut fixed, q, decimals);
                assert_eq!(fixed, f(q as f64 / scale), "{q} / 10^{decimals}");
            }
        }
        let mut out = String::new();
        write_int(&mut out, i64::MIN);
        assert_eq!(out, i64::MIN.to_string());
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(s("agent_7"), "\"agent_7\"");
        assert_eq!(s("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(s("\u{8}\u{c}\u{1f}\u{7f}"), "\"\\b\\f\\u001f\u{7f}\"");
        assert_eq!(s(""), "\"\"");
    }

    #[test]
    fn floats_are_written_as_python_writes_them() {
        // repr() of each, from CPython
        for (v, python) in [
            (1e-5, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (0.0001, "0.0001"),
            (9.999_999_999_999_999e-5, "9.999999999999999e-05"),
            (1e16, "1e+16"),
            (-1.234_5e20, "-1.2345e+20"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (1.234_567_890_123_456_8e17, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157e+308"),
            (123_456.789, "123456.789"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(f(v), python);
        }
        let mut out = String::new();
        write_fixed(&mut out, 7, 6);
        assert_eq!(out, "7e-06");
        out.clear();
        write_fixed(&mut out, -123, 6);
        assert_eq!(out, "-0.000123");
    }

    #[test]
    fn floats_read_back_exactly() {
        assert_eq!(f(0.57), "0.57");
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(12.34), "12.34");
        assert_eq!(f(f64::NAN), "0.0");
        assert_eq!(f(8.0), "8.0");
        assert_eq!(f(-3.0), "-3.0");
        assert_eq!(f(1e15), "1000000000000000.0");
        for v in [
            0.1,
            0.29,
            1e-4,
            123_456.78,
            -3.25,
            1e20,
            1e-5,
            2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(f(v).parse::<f64>().unwrap().to_bits(), v.to_bits());
        }
    }
}
