//! Colours: the categorical series palette and the per-theme chrome
//! (background, text, grid).

use crate::Theme;

/// Okabe–Ito, the palette designed to stay distinguishable under the common
/// colour-vision deficiencies, minus its black. The eighth slot is a neutral
/// grey, so the "other" bucket produced by [`crate::fold_series`] (always the
/// eighth series) reads as "the rest" rather than as one more category.
const LIGHT: [(u8, u8, u8); 8] = [
    (0, 114, 178),   // blue
    (230, 159, 0),   // orange
    (0, 158, 115),   // bluish green
    (213, 94, 0),    // vermillion
    (86, 180, 233),  // sky blue
    (204, 121, 167), // reddish purple
    (196, 178, 0),   // yellow, darkened: the original vanishes on white
    (140, 140, 140), // grey
];

/// The same hues in the same order, lifted where the original is too dark to
/// read against the dark background.
const DARK: [(u8, u8, u8); 8] = [
    (64, 156, 230),  // blue, lightened
    (240, 172, 40),  // orange
    (26, 188, 142),  // bluish green, lightened
    (239, 121, 48),  // vermillion, lightened
    (110, 196, 240), // sky blue
    (216, 140, 184), // reddish purple
    (240, 228, 66),  // yellow (original)
    (156, 163, 175), // grey
];

/// The categorical series palette for `theme`: series `i` gets colour
/// `i % len`. Same hue order in both themes, so a provider keeps its colour
/// when the user switches theme.
pub fn palette(theme: Theme) -> &'static [(u8, u8, u8)] {
    match theme {
        Theme::Light => &LIGHT,
        Theme::Dark => &DARK,
    }
}

/// Everything that is not a series colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chrome {
    pub background: (u8, u8, u8),
    pub title: (u8, u8, u8),
    pub text: (u8, u8, u8),
    pub muted: (u8, u8, u8),
    pub grid: (u8, u8, u8),
    pub axis: (u8, u8, u8),
}

/// Tailwind's gray scale: it is what the web UI uses, so a chart embedded in
/// a card does not look pasted in.
pub(crate) fn chrome(theme: Theme) -> Chrome {
    match theme {
        Theme::Light => Chrome {
            background: (255, 255, 255),
            title: (17, 24, 39),
            text: (55, 65, 81),
            muted: (107, 114, 128),
            grid: (234, 236, 240),
            axis: (209, 213, 219),
        },
        // The web UI's dark card colour (`--surface`), so dark charts sit flush in their cards.
        Theme::Dark => Chrome {
            background: (22, 24, 33),
            title: (243, 244, 246),
            text: (209, 213, 219),
            muted: (156, 163, 175),
            grid: (43, 53, 69),
            axis: (75, 85, 99),
        },
    }
}

/// `colour` blended toward `background`; `amount` 1.0 is the colour itself.
/// Done by hand rather than with alpha so that stacked fills never show what
/// is drawn beneath them.
pub(crate) fn blend(colour: (u8, u8, u8), background: (u8, u8, u8), amount: f64) -> (u8, u8, u8) {
    let mix = |c: u8, b: u8| -> u8 {
        let v = f64::from(c) * amount + f64::from(b) * (1.0 - amount);
        // Clamped to 0..=255 first, so the cast cannot truncate.
        v.round().clamp(0.0, 255.0) as u8
    };
    (
        mix(colour.0, background.0),
        mix(colour.1, background.1),
        mix(colour.2, background.2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_themes_have_the_same_number_of_colours() {
        assert_eq!(palette(Theme::Light).len(), palette(Theme::Dark).len());
        assert!((8..=10).contains(&palette(Theme::Light).len()));
    }

    #[test]
    fn palette_colours_are_distinct() {
        for theme in [Theme::Light, Theme::Dark] {
            let p = palette(theme);
            for (i, a) in p.iter().enumerate() {
                for b in &p[i + 1..] {
                    assert_ne!(a, b);
                }
            }
        }
    }

    #[test]
    fn blend_endpoints() {
        assert_eq!(blend((200, 100, 0), (0, 0, 0), 1.0), (200, 100, 0));
        assert_eq!(blend((200, 100, 0), (10, 20, 30), 0.0), (10, 20, 30));
        assert_eq!(blend((200, 100, 0), (0, 0, 0), 0.5), (100, 50, 0));
    }
}
