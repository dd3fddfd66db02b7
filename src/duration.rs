//! Durations as runbook authors type them: `90s`, `45m`, `2h`, `1d`, `2w`, and combinations
//! such as `1h30m` (each unit at most once, largest first).

use std::time::Duration;

/// Parses one or more `<whole number><w|d|h|m|s>`, largest unit first, each at most once
/// (`2w`, `1h30m`, `1d12h`). The error text says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "'{text}' is not a duration: use whole numbers with units, like 90s, 45m, 2h, 1d, 2w or 1h30m"
        )
    };
    const UNITS: [(char, u64); 5] = [
        ('w', 7 * 86_400),
        ('d', 86_400),
        ('h', 3600),
        ('m', 60),
        ('s', 1),
    ];
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_unit = None;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, after) = rest.split_at(split);
        let mut chars = after.chars();
        let unit = chars.next().ok_or_else(bad)?;
        let place = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        // Largest first, each once: "30m1h" and "1h1h" are typing mistakes.
        if number.is_empty() || last_unit.is_some_and(|last| place <= last) {
            return Err(bad());
        }
        last_unit = Some(place);
        let count: u64 = number
            .parse()
            .map_err(|_| format!("'{text}' is too long"))?;
        total = count
            .checked_mul(UNITS[place].1)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("'{text}' is too long"))?;
        rest = chars.as_str();
    }
    if last_unit.is_none() {
        return Err(bad());
    }
    if total == 0 {
        return Err(format!(
            "'{text}' is zero: a duration must be longer than that"
        ));
    }
    Some(total)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long"))
}

/// The shortest of the accepted spellings that says the same, for messages.
pub fn display(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_four_units() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            "",
            "h",
            "10",
            "1.5h",
            "-1h",
            "2 h",
            "1x",
            "30m1h",
            "1h1h",
            "1h30",
            "h30m",
            "0m",
            "0h0m",
            "99999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn accepts_weeks_and_combinations() {
        assert_eq!(parse("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse("1w2d3h4m5s"), Ok(Duration::from_secs(788_645)));
        assert_eq!(parse("0h30m"), Ok(Duration::from_secs(1800)));
    }

    #[test]
    fn displays_the_shortest_form() {
        assert_eq!(display(Duration::from_secs(3600)), "1h");
        assert_eq!(display(Duration::from_secs(90)), "90s");
        assert_eq!(display(Duration::from_secs(86_400 * 2)), "2d");
    }

    #[test]
    fn a_hundred_years_is_the_limit() {
        assert_eq!(parse("36500d"), Ok(Duration::from_secs(36_500 * 86_400)));
        assert!(parse("36501d").is_err());
        assert_eq!(parse("12h"), Ok(Duration::from_secs(43_200)));
    }
}
