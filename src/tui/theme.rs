//! Colours as semantic tokens (`danger`, `ok`, `selection`, `status_failed` …), never raw colours
//! in screen code, so one YAML file re-skins the whole console.
//!
//! Built-in themes (`themes/*.yaml`: dark, light, high-contrast) are embedded in the binary; a
//! file `<config_dir>/themes/NAME.yaml` patches the built-in of the same name (or `dark` for a
//! new name), token by token. Colours are then reduced to what the terminal can show (truecolor,
//! 256 or 16 colours), and with `NO_COLOR` every token becomes modifiers only (bold, reversed,
//! underlined), never grey shades whose contrast on an unknown background nobody can promise.

use crate::maas::NodeStatus;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built-in themes, by name, as embedded YAML.
const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
];

/// The theme used when none is named.
pub const DEFAULT_THEME: &str = "dark";

macro_rules! tokens {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Every style the console draws with, by meaning.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            pub name: String,
            $($(#[$doc])* pub $name: Style,)*
        }

        /// The names a theme file may set, in file order.
        pub const TOKEN_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Theme {
            fn from_specs(name: &str, specs: &BTreeMap<String, Style>) -> Result<Theme, String> {
                Ok(Theme {
                    name: name.to_string(),
                    $($name: *specs
                        .get(stringify!($name))
                        .ok_or_else(|| format!("token `{}` is missing", stringify!($name)))?,)*
                })
            }

            fn map_styles(&mut self, f: impl Fn(Style) -> Style) {
                $(self.$name = f(self.$name);)*
            }

            fn set(&mut self, token: &str, style: Style) -> bool {
                match token {
                    $(stringify!($name) => { self.$name = style; true })*
                    _ => false,
                }
            }
        }
    };
}

tokens! {
    /// Ordinary text.
    text,
    /// Screen and box titles.
    title,
    /// Table column headers.
    header,
    /// Secondary text (placeholders, counts).
    muted,
    ok,
    warning,
    danger,
    info,
    /// The selected table row.
    selection,
    border,
    /// The border of the focused box.
    focus_border,
    /// A key in the hint bar and help.
    hint_key,
    /// A key's description in the hint bar and help.
    hint_text,
    /// The READ-ONLY badge.
    readonly_badge,
    /// The `:` and `/` prompts.
    prompt,
    status_ready,
    status_deployed,
    status_allocated,
    /// Work in progress (commissioning, deploying, releasing, …).
    status_busy,
    status_failed,
    status_new,
    /// Missing, retired, reserved: machines nobody can use now.
    status_offline,
}

/// What the terminal can show, from the environment (sshd forwards only TERM, so COLORTERM is
/// a hint at best and 16 colours is the safe floor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSupport {
    /// NO_COLOR is set: modifiers only.
    NoColor,
    Ansi16,
    Ansi256,
    TrueColor,
}

impl ColorSupport {
    /// Reads NO_COLOR, COLORTERM and TERM through `var` (the process environment in production).
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> ColorSupport {
        if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorSupport::NoColor;
        }
        let colorterm = var("COLORTERM").unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" {
            return ColorSupport::TrueColor;
        }
        if var("TERM").unwrap_or_default().contains("256color") {
            return ColorSupport::Ansi256;
        }
        ColorSupport::Ansi16
    }

    /// From the process environment.
    pub fn from_env() -> ColorSupport {
        ColorSupport::detect(|k| std::env::var(k).ok())
    }
}

/// Why a theme cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("`{0}` is not a theme name: use letters, digits, `-` and `_` only (e.g. --theme high-contrast)")]
    BadName(String),
    #[error("there is no theme named `{name}`: use one of {available}, or create {path}")]
    Unknown {
        name: String,
        available: String,
        path: PathBuf,
    },
    #[error("the theme file {path} cannot be used: {detail}; fix it or delete it to get the built-in theme")]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot read the theme file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A theme file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    #[allow(dead_code)] // documents the file; the name used is the one asked for
    name: Option<String>,
    #[serde(default)]
    tokens: BTreeMap<String, StyleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    #[serde(default)]
    fg: Option<ColorSpec>,
    #[serde(default)]
    bg: Option<ColorSpec>,
    #[serde(default)]
    modifiers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ColorSpec {
    Index(u8),
    Name(String),
}

impl StyleSpec {
    fn to_style(&self) -> Result<Style, String> {
        let mut style = Style::default();
        if let Some(fg) = &self.fg {
            style = style.fg(parse_color(fg)?);
        }
        if let Some(bg) = &self.bg {
            style = style.bg(parse_color(bg)?);
        }
        for m in &self.modifiers {
            style = style.add_modifier(parse_modifier(m)?);
        }
        Ok(style)
    }
}

const COLOR_NAMES: &[(&str, Color)] = &[
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("dark_gray", Color::DarkGray),
    ("light_red", Color::LightRed),
    ("light_green", Color::LightGreen),
    ("light_yellow", Color::LightYellow),
    ("light_blue", Color::LightBlue),
    ("light_magenta", Color::LightMagenta),
    ("light_cyan", Color::LightCyan),
    ("white", Color::White),
];

fn parse_color(spec: &ColorSpec) -> Result<Color, String> {
    match spec {
        ColorSpec::Index(i) => Ok(Color::Indexed(*i)),
        ColorSpec::Name(name) => {
            let n = name.trim().to_ascii_lowercase().replace('-', "_");
            if let Some(hex) = n.strip_prefix('#') {
                if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    let v = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                    return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
                }
                return Err(format!("colour `{name}` is not #rrggbb"));
            }
            COLOR_NAMES
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, c)| *c)
                .ok_or_else(|| {
                    let names: Vec<&str> = COLOR_NAMES.iter().map(|(k, _)| *k).collect();
                    format!(
                        "unknown colour `{name}` (use one of {}, #rrggbb, or a palette index 0-255)",
                        names.join(", ")
                    )
                })
        }
    }
}

fn parse_modifier(name: &str) -> Result<Modifier, String> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" | "underline" => Modifier::UNDERLINED,
        "reversed" | "reverse" => Modifier::REVERSED,
        "crossed_out" => Modifier::CROSSED_OUT,
        other => {
            return Err(format!(
                "unknown modifier `{other}` (use bold, dim, italic, underlined, reversed or crossed_out)"
            ))
        }
    })
}

/// Parses theme YAML into token styles, naming the first bad token.
fn parse_tokens(text: &str) -> Result<BTreeMap<String, Style>, String> {
    let file: ThemeFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (token, spec) in &file.tokens {
        if !TOKEN_NAMES.contains(&token.as_str()) {
            return Err(format!(
                "unknown token `{token}` (known tokens: {})",
                TOKEN_NAMES.join(", ")
            ));
        }
        let style = spec
            .to_style()
            .map_err(|e| format!("token `{token}`: {e}"))?;
        out.insert(token.clone(), style);
    }
    Ok(out)
}

impl Theme {
    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The embedded files are complete (a test checks every one), so failure is impossible
        // here short of a broken build; still, no panic: report it as absent.
        let specs = parse_tokens(text).ok()?;
        Theme::from_specs(name, &specs).ok()
    }

    /// The names of the built-in themes.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// Loads theme `name`: the user's `<config_dir>/themes/NAME.yaml` patched over the built-in
    /// of that name (or over `dark`). A broken user file is an error naming the file and the fix.
    pub fn load(name: &str, config_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        // The name becomes a file name: no separators, no `..`.
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(ThemeError::BadName(name.to_string()));
        }
        let user_path = config_dir.map(|d| d.join("themes").join(format!("{name}.yaml")));
        let base = Theme::builtin(name);
        let user_text = match &user_path {
            Some(p) if p.is_file() => {
                Some(
                    std::fs::read_to_string(p).map_err(|source| ThemeError::Read {
                        path: p.clone(),
                        source,
                    })?,
                )
            }
            _ => None,
        };
        let (mut theme, text) = match (base, user_text) {
            (Some(base), None) => return Ok(base),
            (Some(base), Some(text)) => (base, text),
            (None, Some(text)) => (Theme::fallback_base(), text),
            (None, None) => {
                return Err(ThemeError::Unknown {
                    name: name.to_string(),
                    available: Theme::builtin_names().join(", "),
                    path: user_path.unwrap_or_else(|| PathBuf::from(format!("themes/{name}.yaml"))),
                })
            }
        };
        let path = user_path.unwrap_or_default();
        let specs = parse_tokens(&text).map_err(|detail| ThemeError::Invalid {
            path: path.clone(),
            detail,
        })?;
        for (token, style) in specs {
            theme.set(&token, style);
        }
        theme.name = name.to_string();
        Ok(theme)
    }

    fn fallback_base() -> Theme {
        Theme::builtin(DEFAULT_THEME).unwrap_or_else(Theme::monochrome)
    }

    /// Modifiers only: what NO_COLOR gets. Meaning rides on bold / reversed / underlined.
    pub fn monochrome() -> Theme {
        let plain = Style::default();
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let strong = Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        let reversed = Style::default().add_modifier(Modifier::REVERSED);
        Theme {
            name: "no-color".into(),
            text: plain,
            title: bold,
            header: strong,
            muted: plain,
            ok: plain,
            warning: bold,
            danger: strong,
            info: plain,
            selection: reversed,
            border: plain,
            focus_border: bold,
            hint_key: bold,
            hint_text: plain,
            readonly_badge: reversed.add_modifier(Modifier::BOLD),
            prompt: bold,
            status_ready: plain,
            status_deployed: plain,
            status_allocated: plain,
            status_busy: bold,
            status_failed: strong,
            status_new: plain,
            status_offline: Style::default().add_modifier(Modifier::ITALIC),
        }
    }

    /// This theme as the terminal can show it.
    pub fn for_terminal(mut self, support: ColorSupport) -> Theme {
        match support {
            ColorSupport::NoColor => Theme::monochrome(),
            ColorSupport::TrueColor => self,
            ColorSupport::Ansi256 => {
                self.map_styles(|s| map_colors(s, to_256));
                self
            }
            ColorSupport::Ansi16 => {
                self.map_styles(|s| map_colors(s, to_16));
                self
            }
        }
    }

    /// The style of a machine status, by what the status means for an operator.
    pub fn status(&self, status: NodeStatus) -> Style {
        use NodeStatus::*;
        match status {
            Ready => self.status_ready,
            Deployed => self.status_deployed,
            Allocated => self.status_allocated,
            New => self.status_new,
            Missing | Retired | Reserved => self.status_offline,
            s if s.is_failed() => self.status_failed,
            _ => self.status_busy,
        }
    }
}

fn map_colors(style: Style, f: fn(Color) -> Color) -> Style {
    Style {
        fg: style.fg.map(f),
        bg: style.bg.map(f),
        ..style
    }
}

/// The 16 ANSI colours with the xterm default RGB values, for nearest-colour matching.
const ANSI16: &[(Color, (u8, u8, u8))] = &[
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The RGB value of a 256-palette index (xterm's cube and grey ramp).
fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[i as usize].1,
        16..=231 => {
            let i = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let g = 8 + (i - 232) * 10;
            (g, g, g)
        }
    }
}

fn to_256(c: Color) -> Color {
    match c {
        Color::Rgb(r, g, b) => {
            let cube = |v: u8| -> u8 {
                if v < 48 {
                    0
                } else if v < 115 {
                    1
                } else {
                    (v - 35) / 40
                }
            };
            Color::Indexed(16 + 36 * cube(r) + 6 * cube(g) + cube(b))
        }
        other => other,
    }
}

fn to_16(c: Color) -> Color {
    let rgb = match c {
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => indexed_rgb(i),
        other => return other,
    };
    let dist = |(r, g, b): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(r, rgb.0) + d(g, rgb.1) + d(b, rgb.2)
    };
    ANSI16
        .iter()
        .min_by_key(|(_, v)| dist(*v))
        .map_or(Color::Reset, |(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_sets_every_token() {
        for (name, text) in BUILTIN {
            let specs = parse_tokens(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            for token in TOKEN_NAMES {
                assert!(specs.contains_key(*token), "{name} lacks {token}");
            }
            assert!(Theme::builtin(name).is_some());
        }
    }

    #[test]
    fn colour_reduction() {
        assert_eq!(to_256(Color::Rgb(255, 0, 0)), Color::Indexed(196));
        assert_eq!(to_16(Color::Rgb(250, 10, 10)), Color::LightRed);
        assert_eq!(to_16(Color::Indexed(2)), Color::Green);
        assert_eq!(to_16(Color::Indexed(244)), Color::DarkGray);
        assert_eq!(to_16(Color::Cyan), Color::Cyan);
    }

    #[test]
    fn detection() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ColorSupport::detect(env(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")])),
            ColorSupport::NoColor
        );
        assert_eq!(
            ColorSupport::detect(env(&[("NO_COLOR", ""), ("COLORTERM", "truecolor")])),
            ColorSupport::TrueColor
        );
        assert_eq!(
            ColorSupport::detect(env(&[("TERM", "xterm-256color")])),
            ColorSupport::Ansi256
        );
        assert_eq!(
            ColorSupport::detect(env(&[("TERM", "screen")])),
            ColorSupport::Ansi16
        );
    }
}
