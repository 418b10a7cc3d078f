//! Calendar arithmetic for the three timestamp forms S3 uses, with no
//! allocation on the format side: the HTTP `Date` form (RFC 7231 IMF-fixdate),
//! the SigV4 basic form (`20130524T000000Z`) and the XML form
//! (`2013-05-24T00:00:00.000Z`). Civil-from-days follows Howard Hinnant's
//! public-domain algorithms.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(_) => 0,
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(_) => 0,
    }
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Breaks Unix seconds into UTC calendar fields.
pub fn civil_from_unix(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: ((rem % 3600) / 60) as u32,
        second: (rem % 60) as u32,
        weekday: (days + 4).rem_euclid(7) as u32,
    }
}

/// Unix seconds from UTC calendar fields; None when a field is out of range.
pub fn unix_from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(
        days_from_civil(y, mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s),
    )
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` (HTTP Date, Last-Modified).
pub fn http_date(secs: i64) -> String {
    // Pushed by hand: this is on every GET and HEAD (Last-Modified), and
    // `format!` machinery was 1.7 % of a 4 KiB GET's server CPU.
    let c = civil_from_unix(secs);
    let mut s = String::with_capacity(29);
    s.push_str(WEEKDAYS[c.weekday as usize]);
    s.push_str(", ");
    push_digits(&mut s, c.day, 2);
    s.push(' ');
    s.push_str(MONTHS[(c.month - 1) as usize]);
    s.push(' ');
    push_digits(&mut s, c.year as u32, 4);
    s.push(' ');
    push_digits(&mut s, c.hour, 2);
    s.push(':');
    push_digits(&mut s, c.minute, 2);
    s.push(':');
    push_digits(&mut s, c.second, 2);
    s.push_str(" GMT");
    s
}

/// Appends the last `width` decimal digits of `v`, zero-padded.
fn push_digits(s: &mut String, v: u32, width: u32) {
    for i in (0..width).rev() {
        s.push(char::from(b'0' + (v / 10u32.pow(i) % 10) as u8));
    }
}

/// Parses any of the three HTTP date forms (IMF-fixdate, RFC 850, asctime).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// A request's `Date` header: the HTTP forms (IMF-fixdate, RFC 850,
/// asctime) and RFC 2822 with a numeric zone or `UT`/`UTC`/`Z`, which
/// Python's `email.utils.formatdate` (botocore) writes as `-0000`. The
/// weekday is optional and not checked against the date (RFC 2822 §3.3).
pub fn parse_request_date(s: &str) -> Option<i64> {
    parse_http_date(s).or_else(|| parse_rfc2822(s.trim()))
}

/// `[Mon, ]7 Dec 2026 02:49:53 -0000` (one- or two-digit day, seconds
/// optional, zone `+hhmm` / `-hhmm` / `GMT` / `UT` / `UTC` / `Z`).
fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = match s.split_once(',') {
        Some((day, rest)) if WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(day.trim())) => rest,
        Some(_) => return None,
        None => s,
    };
    let mut it = s.split_ascii_whitespace();
    let (day, month, year, clock, zone) =
        (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || day.len() > 2 || year.len() != 4 {
        return None;
    }
    let digits = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    let mut hms = clock.split(':');
    let (h, mi) = (digits(hms.next()?)?, digits(hms.next()?)?);
    let sec = hms.next().map_or(Some(0), digits)?;
    if hms.next().is_some() || sec > 60 {
        return None;
    }
    let offset_secs = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        _ => {
            let (sign, hhmm) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let n = digits(hhmm).filter(|_| hhmm.len() == 4)?;
            let (zh, zm) = (n / 100, n % 100);
            if zm >= 60 {
                return None;
            }
            sign * i64::from(zh * 3600 + zm * 60)
        }
    };
    let local = unix_from_civil(
        i64::from(digits(year)?),
        month,
        digits(day)?,
        h,
        mi,
        sec.min(59),
    )?;
    Some(local - offset_secs)
}

/// `20130524T000000Z` (SigV4 X-Amz-Date).
pub fn amz_date(secs: i64) -> String {
    let c = civil_from_unix(secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses `20130524T000000Z`.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    unix_from_civil(
        i64::from(num(0..4)?),
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    )
}

/// `2013-05-24T00:00:00.000Z` (S3 XML LastModified, CreationDate).
pub fn iso8601_millis(millis: i64) -> String {
    let c = civil_from_unix(millis.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        millis.rem_euclid(1000)
    )
}

/// Parses `2013-05-24T00:00:00Z` or with fractional seconds; returns Unix seconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    unix_from_civil(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-built form equals the `format!` one it replaced, from
        /// 1970 to 9999.
        #[test]
        fn http_date_matches_the_formatted_definition(secs in 0i64..253_402_300_799) {
            let c = civil_from_unix(secs);
            let formatted = format!(
                "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                WEEKDAYS[c.weekday as usize],
                c.day,
                MONTHS[(c.month - 1) as usize],
                c.year,
                c.hour,
                c.minute,
                c.second
            );
            proptest::prop_assert_eq!(http_date(secs), formatted);
        }
    }

    #[test]
    fn formats_known_instants() {
        // 2013-05-24T00:00:00Z is the instant used throughout the SigV4 docs.
        let t = 1_369_353_600;
        assert_eq!(amz_date(t), "20130524T000000Z");
        assert_eq!(http_date(t), "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(iso8601_millis(t * 1000 + 7), "2013-05-24T00:00:00.007Z");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn request_dates_in_every_form_clients_send() {
        let t = 1_796_611_793; // Mon, 07 Dec 2026 02:49:53 GMT
        for form in [
            "Mon, 07 Dec 2026 02:49:53 GMT",
            "Mon, 07 Dec 2026 02:49:53 -0000",
            "Mon, 07 Dec 2026 02:49:53 +0000",
            "Mon, 7 Dec 2026 02:49:53 UTC",
            "07 Dec 2026 02:49:53 Z",
            "Mon, 07 Dec 2026 03:49:53 +0100",
            "Sun, 06 Dec 2026 21:19:53 -0530",
            "Monday, 07-Dec-26 02:49:53 GMT",
            "Mon Dec  7 02:49:53 2026",
        ] {
            assert_eq!(parse_request_date(form), Some(t), "{form}");
        }
        for junk in [
            "",
            "Mon, 07 Dec 2026 02:49:53",
            "Mon, 07 Dec 2026 02:49:53 +00",
            "Mon, 07 Dec 2026 02:49:53 +0060",
            "Xyz, 07 Dec 2026 02:49:53 GMT",
            "Mon, 07 Foo 2026 02:49:53 GMT",
            "Mon, 32 Dec 2026 02:49:53 GMT",
            "Mon, 07 Dec 2026 25:49:53 GMT",
            "Mon, 07 Dec 2026 02:49:53 GMT extra",
            "Mon, 07 Dec 2026 02:49:53 +1a00",
        ] {
            assert_eq!(parse_request_date(junk), None, "{junk:?}");
        }
    }

    proptest::proptest! {
        /// Any string parses to a date or to nothing, never a panic.
        #[test]
        fn request_date_parser_never_panics(s in "\\PC{0,40}") {
            let _ = parse_request_date(&s);
        }
    }

    #[test]
    fn parses_round_trip() {
        for t in [0, 951_782_400, 1_369_353_600, 4_102_444_799] {
            assert_eq!(parse_amz_date(&amz_date(t)), Some(t));
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
            assert_eq!(parse_iso8601(&iso8601_millis(t * 1000)), Some(t));
        }
        assert_eq!(parse_amz_date("20130524T000000"), None);
        assert_eq!(parse_amz_date("2013052XT000000Z"), None);
        assert_eq!(parse_amz_date("20131324T000000Z"), None);
    }
}
