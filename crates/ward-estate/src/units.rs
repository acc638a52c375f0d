//! Durations, percentages and resource quantities as the estate writes them.
//!
//! Parsing is exact (no floats), so `99.95%` compares the same on every machine and a
//! duration prints back the way a person would write it.

use serde::Serialize;
use std::fmt;

/// A span of time such as `15m`, `4h`, `1h30m`, `30d` or `2w`; whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub u64);

impl Duration {
    pub const fn secs(s: u64) -> Duration {
        Duration(s)
    }
    pub const fn minutes(m: u64) -> Duration {
        Duration(m * 60)
    }
    pub const fn hours(h: u64) -> Duration {
        Duration(h * 3600)
    }
    pub const fn days(d: u64) -> Duration {
        Duration(d * 86_400)
    }
    pub fn as_secs(self) -> u64 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{}` does not start with a number",
                crate::decode::escape(s)
            ));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(format!("unknown unit `{c}`")),
            };
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("a number must come before `{c}`"))?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or("duration too large")?;
        }
        if !digits.is_empty() {
            return Err(format!("`{digits}` has no unit"));
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "0s");
        }
        let mut rest = self.0;
        // No weeks on output: `14d` and `30d` read the same way across the whole estate.
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A percentage such as `99.95%`, held in parts per million (99.95% = 999_500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(pub u32);

impl Percent {
    pub fn parse(s: &str) -> Result<Percent, String> {
        let body = s
            .trim()
            .strip_suffix('%')
            .ok_or("a percentage ends with `%`, as in `99.95%`")?;
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("`{s}` is not a number"));
        }
        if frac.len() > 4 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err("at most four decimals, as in `99.9995%`".into());
        }
        let whole: u32 = whole.parse().map_err(|_| "number too large")?;
        let frac: u32 = format!("{frac:0<4}").parse().map_err(|_| "bad decimals")?;
        let ppm = whole
            .checked_mul(10_000)
            .and_then(|v| v.checked_add(frac))
            .ok_or("number too large")?;
        if ppm > 1_000_000 {
            return Err("a percentage is at most 100%".into());
        }
        Ok(Percent(ppm))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 10_000;
        let frac = self.0 % 10_000;
        if frac == 0 {
            write!(f, "{whole}%")
        } else {
            let digits = format!("{frac:04}");
            write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A Kubernetes memory or storage quantity (`8Gi`, `512Mi`, `1T`), kept as written and
/// as bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bytes {
    pub text: String,
    pub bytes: u64,
}

impl Bytes {
    pub fn parse(s: &str) -> Result<Bytes, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` must start with a whole number, as in `8Gi`"))?;
        let mult: u64 = match suffix {
            "" => 1,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            _ => return Err(format!("unknown suffix `{suffix}`; use Ki, Mi, Gi or Ti")),
        };
        let bytes = n.checked_mul(mult).ok_or("quantity too large")?;
        Ok(Bytes {
            text: s.to_string(),
            bytes,
        })
    }

    /// Whole mebibytes, for Odoo's byte limits and memory arithmetic.
    pub fn mib(&self) -> u64 {
        self.bytes >> 20
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// CPU in millicores: `4`, `0.5` and `500m` all parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millicores(pub u32);

impl Millicores {
    pub fn parse(s: &str) -> Result<Millicores, String> {
        let s = s.trim();
        if let Some(m) = s.strip_suffix('m') {
            return m
                .parse()
                .map(Millicores)
                .map_err(|_| format!("`{s}` is not a CPU quantity such as `500m` or `2`"));
        }
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty()
            || frac.len() > 3
            || !whole
                .chars()
                .chain(frac.chars())
                .all(|c| c.is_ascii_digit())
        {
            return Err(format!("`{s}` is not a CPU quantity such as `500m` or `2`"));
        }
        let whole: u32 = whole.parse().map_err(|_| "CPU quantity too large")?;
        let frac: u32 = format!("{frac:0<3}").parse().map_err(|_| "bad decimals")?;
        whole
            .checked_mul(1000)
            .and_then(|v| v.checked_add(frac))
            .map(Millicores)
            .ok_or_else(|| "CPU quantity too large".into())
    }

    /// Whole cores, rounded down, at least one.
    pub fn cores(self) -> u32 {
        (self.0 / 1000).max(1)
    }
}

impl fmt::Display for Millicores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl Serialize for Millicores {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, secs, shown) in [
            ("15m", 900, "15m"),
            ("4h", 14_400, "4h"),
            ("1h30m", 5_400, "1h30m"),
            ("30d", 2_592_000, "30d"),
            ("2w", 1_209_600, "14d"),
            ("90s", 90, "1m30s"),
        ] {
            let d = Duration::parse(text).expect(text);
            assert_eq!(d.as_secs(), secs);
            assert_eq!(d.to_string(), shown);
        }
        for bad in ["", "15", "m", "4y", "1.5h", "99999999999999999999d"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentages_are_exact() {
        assert_eq!(Percent::parse("99.95%").unwrap().0, 999_500);
        assert_eq!(Percent::parse("99.9%").unwrap().to_string(), "99.9%");
        assert_eq!(Percent::parse("100%").unwrap().to_string(), "100%");
        assert!(Percent::parse("99.9").is_err());
        assert!(Percent::parse("101%").is_err());
        assert!(Percent::parse("abc%").is_err());
        assert!(Percent::parse("99.12345%").is_err());
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(Bytes::parse("8Gi").unwrap().bytes, 8 << 30);
        assert_eq!(Bytes::parse("8Gi").unwrap().mib(), 8192);
        assert!(Bytes::parse("8GB").is_err());
        assert_eq!(Millicores::parse("500m").unwrap().0, 500);
        assert_eq!(Millicores::parse("2.5").unwrap().0, 2500);
        assert_eq!(Millicores::parse("4").unwrap().to_string(), "4");
        assert!(Millicores::parse("four").is_err());
    }
}
