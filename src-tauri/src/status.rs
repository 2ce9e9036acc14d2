//! What the tray shows: one status line ("12 keys · 2 degraded · proxy on :5397") and a colour
//! for the icon, from the engine's key counts. Pure, so it is unit tested without a desktop.

use keygate_server::monitor::KeyCounts;

/// The overall health colour: red when any key is red, yellow when any is degraded, green
/// when some key works, grey when there is nothing to judge yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Green,
    Yellow,
    Red,
    Grey,
}

impl Colour {
    pub fn of(counts: &KeyCounts) -> Self {
        if counts.unhealthy > 0 {
            Self::Red
        } else if counts.degraded > 0 {
            Self::Yellow
        } else if counts.healthy > 0 {
            Self::Green
        } else {
            Self::Grey
        }
    }

    /// The tray icon for this colour (PNG bytes, built into the binary).
    pub fn icon_png(self) -> &'static [u8] {
        match self {
            Self::Green => include_bytes!("../../icons/tray-green.png"),
            Self::Yellow => include_bytes!("../../icons/tray-yellow.png"),
            Self::Red => include_bytes!("../../icons/tray-red.png"),
            Self::Grey => include_bytes!("../../icons/tray-grey.png"),
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The tray's status line.
pub fn status_line(counts: &KeyCounts, port: u16, paused: bool) -> String {
    let mut parts = vec![plural(counts.total, "key", "keys")];
    if counts.unhealthy > 0 {
        parts.push(format!("{} failing", counts.unhealthy));
    }
    if counts.degraded > 0 {
        parts.push(format!("{} degraded", counts.degraded));
    }
    if counts.total > 0 && counts.unhealthy == 0 && counts.degraded == 0 && counts.healthy > 0 {
        parts.push("all healthy".into());
    }
    parts.push(if paused {
        format!("proxy paused on :{port}")
    } else {
        format!("proxy on :{port}")
    });
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(healthy: usize, degraded: usize, unhealthy: usize, unknown: usize) -> KeyCounts {
        KeyCounts {
            total: healthy + degraded + unhealthy + unknown,
            healthy,
            degraded,
            unhealthy,
            unknown,
            disabled: 0,
        }
    }

    #[test]
    fn the_status_line_names_what_needs_attention() {
        assert_eq!(
            status_line(&counts(10, 2, 0, 0), 5397, false),
            "12 keys · 2 degraded · proxy on :5397"
        );
        assert_eq!(
            status_line(&counts(3, 1, 2, 0), 5397, false),
            "6 keys · 2 failing · 1 degraded · proxy on :5397"
        );
        assert_eq!(
            status_line(&counts(1, 0, 0, 0), 8080, true),
            "1 key · all healthy · proxy paused on :8080"
        );
        assert_eq!(
            status_line(&KeyCounts::default(), 5397, false),
            "0 keys · proxy on :5397"
        );
    }

    #[test]
    fn the_colour_is_the_worst_state_with_grey_for_nothing_known() {
        assert_eq!(Colour::of(&counts(5, 1, 1, 0)), Colour::Red);
        assert_eq!(Colour::of(&counts(5, 1, 0, 0)), Colour::Yellow);
        assert_eq!(Colour::of(&counts(5, 0, 0, 3)), Colour::Green);
        assert_eq!(Colour::of(&counts(0, 0, 0, 3)), Colour::Grey);
        assert!(Colour::Red.icon_png().starts_with(b"\x89PNG"));
    }
}
