//! `verger.toml`: what `verger run` starts and how, read strictly, every problem named
//! with its line.
//!
//! ```toml
//! realm = "orchard"                 # optional; default: the embedded router's first realm
//! # router = "ws://10.0.0.2:8080/ws"  # an existing router: none is embedded
//!
//! [router]                          # or: the embedded router's own configuration
//! listen = "127.0.0.1:8080"
//!
//! [supervisor]                      # restarts and stop (every key optional)
//! restart_delay = "1s"
//!
//! [components.dose]                 # how a component is started (every key optional)
//! command = "python3 my_dose.py"
//!
//! [components.logger]               # an extra program: its command is required
//! command = "python3 logger.py"
//!
//! [gnss]                            # a component's section: exactly its settings file
//! stale_after = "1.5s"
//! [gnss.source]
//! serial = "/dev/serial/by-id/usb-u-blox_GNSS_receiver-if00"
//! ```
//!
//! The file is read in parts that keep their line numbers: the core (`router` as a URL,
//! `realm`, `[supervisor]`, `[components.*]`), read by the one loader of
//! [`crate::config`]; `[router]`, read as a router configuration; and each component's
//! section, which is handed to the component as its `--config` file. A section's text is
//! the whole file with every line outside the section blanked and its headers
//! shortened (`[gnss.source]` becomes `[source]`), so that a component reports a wrong
//! value with the line of `verger.toml` where it is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{self, duration, ConfigError, Problem, Validate};
use crate::contract::DEFAULT_REALM;
use crate::router::RouterConfig;

/// The components verger ships, in the order they start; `verger-<name>` is each one's
/// program unless `[components.<name>] command` names another.
pub const BUILT_IN: [&str; 4] = ["gnss", "map", "dose", "sprayer"];

/// The component stopped first, alone, and waited for: it drives the valves, which must
/// be closed (its safe state) before anything it depends on goes away.
pub const STOPS_FIRST: &str = "sprayer";

/// Top-level keys that are not sections: no component may take these names.
const RESERVED: [&str; 4] = ["router", "realm", "supervisor", "components"];

/// When a component that ended by itself is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Whatever its exit status.
    Always,
    /// When it failed: a non-zero status or killed by a signal (the default).
    #[default]
    OnFailure,
    /// Never: it stays stopped.
    Never,
}

impl Restart {
    /// Whether a component that ended by itself (`success`: exit status 0) starts again.
    pub fn restarts(self, success: bool) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        }
    }
}

/// `[components.<name>]`: how one program is started.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentEntry {
    /// The program and its arguments, split as a shell would split them (quotes,
    /// backslashes; no variables, globs or pipes). Relative paths are relative to the
    /// folder of `verger.toml`. Default for a built-in component: `verger-<name>`
    /// beside the running `verger`, else on `PATH`. Required for any other program.
    pub command: Option<String>,
    /// `false`: not started here (it runs on another machine, or not at all); its
    /// section is kept but not checked.
    pub enabled: bool,
    /// When it is started again after ending by itself.
    pub restart: Restart,
}

impl Default for ComponentEntry {
    fn default() -> ComponentEntry {
        ComponentEntry {
            command: None,
            enabled: true,
            restart: Restart::default(),
        }
    }
}

/// `[supervisor]`: the restart and stop policy.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// The wait before a component that ended is started again; it doubles with every
    /// restart that follows a short run.
    #[serde(with = "duration")]
    pub restart_delay: Duration,
    /// The longest wait between restarts.
    #[serde(with = "duration")]
    pub restart_max_delay: Duration,
    /// A component that ran at least this long before ending starts again after
    /// `restart_delay`, as if for the first time.
    #[serde(with = "duration")]
    pub restart_reset_after: Duration,
    /// On SIGINT/SIGTERM, how long each stage of the stop (the sprayer, then the other
    /// components together) has after SIGTERM before SIGKILL. Longer than the
    /// components' own `--shutdown-timeout` (3s by default).
    #[serde(with = "duration")]
    pub stop_timeout: Duration,
}

/// Default of `[supervisor] restart_delay`.
pub const DEFAULT_RESTART_DELAY: Duration = Duration::from_secs(1);
/// Default of `[supervisor] restart_max_delay`.
pub const DEFAULT_RESTART_MAX_DELAY: Duration = Duration::from_secs(30);
/// Default of `[supervisor] restart_reset_after`.
pub const DEFAULT_RESTART_RESET_AFTER: Duration = Duration::from_secs(60);
/// Default of `[supervisor] stop_timeout`.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for SupervisorSettings {
    fn default() -> SupervisorSettings {
        SupervisorSettings {
            restart_delay: DEFAULT_RESTART_DELAY,
            restart_max_delay: DEFAULT_RESTART_MAX_DELAY,
            restart_reset_after: DEFAULT_RESTART_RESET_AFTER,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

/// The core of `verger.toml`: everything but the sections.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Core {
    router: Option<String>,
    realm: Option<String>,
    supervisor: SupervisorSettings,
    components: BTreeMap<String, ComponentEntry>,
}

impl Validate for Core {
    fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut bad = |field: String, why: String| problems.push(Problem::new(field, why));
        if let Some(url) = &self.router {
            if let Err(e) = crate::transport::parse_url(url) {
                bad(
                    "router".into(),
                    format!(
                        "{e}: write the URL of an existing router, e.g. \"ws://192.168.1.10:8080/ws\", \
                         or leave `router` out and configure the embedded one under [router]"
                    ),
                );
            }
        }
        if self.realm.as_deref().is_some_and(|r| r.trim().is_empty()) {
            bad("realm".into(), "must not be empty".into());
        }
        let s = &self.supervisor;
        let range = |d: Duration, low: Duration, high: Duration| {
            (d < low || d > high).then(|| {
                format!(
                    "{} is out of range: {} to {}",
                    duration::format(d),
                    duration::format(low),
                    duration::format(high)
                )
            })
        };
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        for (field, d, low, high) in [
            ("restart_delay", s.restart_delay, ms(10), secs(600)),
            ("restart_max_delay", s.restart_max_delay, ms(10), secs(3600)),
            (
                "restart_reset_after",
                s.restart_reset_after,
                ms(100),
                secs(3600),
            ),
            ("stop_timeout", s.stop_timeout, ms(100), secs(300)),
        ] {
            if let Some(why) = range(d, low, high) {
                bad(format!("supervisor.{field}"), why);
            }
        }
        if s.restart_max_delay < s.restart_delay {
            bad(
                "supervisor.restart_max_delay".into(),
                format!(
                    "must not be shorter than restart_delay ({})",
                    duration::format(s.restart_delay)
                ),
            );
        }
        for (name, entry) in &self.components {
            let field = |key: &str| format!("components.{name}.{key}");
            if let Err(why) = check_name(name) {
                bad(format!("components.{name}"), why);
            }
            match &entry.command {
                None if !BUILT_IN.contains(&name.as_str()) => bad(
                    format!("components.{name}"),
                    format!(
                        "`command` is required: `{name}` is not a built-in component ({})",
                        BUILT_IN.join(", ")
                    ),
                ),
                Some(command) => {
                    if let Err(why) = split_command(command) {
                        bad(field("command"), why);
                    }
                }
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// A component name: lower-case letters, digits, `_` and `-`, not a reserved key.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err("a component's name is lower-case letters, digits, `_` and `-`".into());
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is a key of verger.toml itself, not a component's name"
        ));
    }
    Ok(())
}

/// A command line split into a program and its arguments, as a shell would split it.
pub fn split_command(command: &str) -> Result<Vec<String>, String> {
    match shlex::split(command) {
        None => Err(format!(
            "`{command}` cannot be split into words: a quote is not closed"
        )),
        Some(words) if words.is_empty() => Err("is empty: name a program".into()),
        Some(words) => Ok(words),
    }
}

/// Where the programs connect.
#[derive(Clone, Debug, PartialEq)]
pub enum RouterChoice {
    /// The embedded router, started first and stopped last, with its configuration.
    Embedded(Box<RouterConfig>),
    /// An existing router at this URL: none is embedded.
    External(String),
}

/// How a component's program is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A built-in component's own binary, `verger-<name>`.
    BuiltIn(String),
    /// `command` of `[components.<name>]`, split into words (at least one).
    Given(Vec<String>),
}

/// A component's section: the text of its settings file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The settings as TOML, on the same lines as in `verger.toml`.
    pub text: String,
    /// The line of the section's first header.
    pub line: usize,
}

/// One program `verger run` starts (or, disabled, leaves to another machine).
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Its name: the key of `[components.<name>]` and of its section.
    pub name: String,
    /// Its program.
    pub program: Program,
    /// The line of its `command`, if written.
    pub command_line: Option<usize>,
    /// Whether it is started here.
    pub enabled: bool,
    /// When it is started again.
    pub restart: Restart,
    /// Its settings, if `verger.toml` has a section for it.
    pub section: Option<Section>,
}

impl Component {
    /// `verger.toml [name]`: how messages name the section.
    pub fn origin(&self, file: &str) -> String {
        format!("{file} [{}]", self.name)
    }

    /// Whether verger ships this program (so it takes `--check-config`).
    pub fn is_built_in(&self) -> bool {
        matches!(self.program, Program::BuiltIn(_))
    }
}

/// A `verger.toml`, read and checked (but not yet its programs: see
/// [`crate::supervisor::check`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// Where it was read from (in messages).
    pub origin: String,
    /// Relative paths in it (commands, the files of the sections) are relative to this
    /// folder: the programs run there.
    pub base_dir: PathBuf,
    /// The embedded router or an existing one.
    pub router: RouterChoice,
    /// The realm every program joins.
    pub realm: String,
    /// Restarts and stop.
    pub supervisor: SupervisorSettings,
    /// Every program, built-in ones first (gnss, map, dose, sprayer), then the others
    /// by name.
    pub components: Vec<Component>,
}

impl RunConfig {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        // Absolute: a child's program is found after it has moved into this folder.
        let base_dir = std::path::absolute(&base_dir).unwrap_or(base_dir);
        RunConfig::from_toml_str(&text, &path.display().to_string(), &base_dir)
    }

    /// Read and check `text` (named `origin` in errors; relative paths relative to
    /// `base_dir`). Every problem of the core, of `[router]` and of the sections'
    /// layout is reported at once, each with its line.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        base_dir: &Path,
    ) -> Result<RunConfig, ConfigError> {
        let whole = parse_table(text, origin)?;
        // Every top-level table but the core's own is a section.
        let sections: BTreeSet<String> = whole
            .iter()
            .filter(|(k, v)| {
                v.is_table() && (k.as_str() == "router" || !RESERVED.contains(&k.as_str()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        let split = split_sections(text, &sections);
        let mut problems: Vec<(Option<usize>, Problem)> = Vec::new();
        for name in &sections {
            let apart = split.sections[name].parse::<toml::Table>().ok();
            if apart.as_ref().map(|t| toml::Value::Table(t.clone())) != whole.get(name).cloned() {
                let written = text.split('\n').position(|l| {
                    let l = l.trim_start();
                    l.strip_prefix(name.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with(['.', '=']))
                });
                problems.push((
                    split.lines.get(name).copied().or(written.map(|n| n + 1)),
                    Problem::new(
                        name.clone(),
                        format!(
                            "write this section as `[{name}]` and `[{name}.…]` tables only \
                             (not as dotted keys or an inline table), so that it can be \
                             handed to its program on its own"
                        ),
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            // The other parts are not what the file says either.
            return Err(invalid(origin, problems));
        }
        let core: Result<Core, ConfigError> = config::from_toml_str(&split.core, origin);
        let core = match core {
            Ok(core) => Some(core),
            Err(ConfigError::Invalid { problems: p, .. }) => {
                problems.extend(p);
                None
            }
            Err(other) => return Err(other),
        };
        let router = match split.sections.get("router") {
            Some(router_text) => {
                match RouterConfig::from_toml_str(router_text, &format!("{origin} [router]")) {
                    Ok(config) => Some(RouterChoice::Embedded(Box::new(config))),
                    Err(ConfigError::Invalid { problems: p, .. }) => {
                        problems.extend(p.into_iter().map(|(line, p)| {
                            (line, Problem::new(format!("router.{}", p.field), p.message))
                        }));
                        None
                    }
                    Err(other) => return Err(other),
                }
            }
            None => Some(match core.as_ref().and_then(|c| c.router.clone()) {
                Some(url) => RouterChoice::External(url),
                None => RouterChoice::Embedded(Box::default()),
            }),
        };
        let mut names: Vec<String> = BUILT_IN.iter().map(|s| s.to_string()).collect();
        // From the file as written: the core may not have been read.
        if let Some(toml::Value::Table(listed)) = whole.get("components") {
            names.extend(
                listed
                    .keys()
                    .filter(|k| !BUILT_IN.contains(&k.as_str()))
                    .cloned(),
            );
        }
        for name in &sections {
            if name != "router" && !names.contains(name) {
                problems.push((
                    split.lines.get(name).copied(),
                    Problem::new(
                        name.clone(),
                        format!(
                            "unknown section: `{name}` is not a component (built-in: {}; \
                             another program needs `[components.{name}]` with its `command`)",
                            BUILT_IN.join(", ")
                        ),
                    ),
                ));
            }
        }
        let (Some(core), Some(router)) = (core, router) else {
            return Err(invalid(origin, problems));
        };
        let realm = core.realm.clone().unwrap_or_else(|| match &router {
            RouterChoice::Embedded(config) => config
                .realms
                .first()
                .cloned()
                .unwrap_or_else(|| DEFAULT_REALM.into()),
            RouterChoice::External(_) => DEFAULT_REALM.into(),
        });
        if let RouterChoice::Embedded(config) = &router {
            if !config.realms.contains(&realm) {
                problems.push((
                    config::line_of(text, "realm"),
                    Problem::new(
                        "realm",
                        format!(
                            "the embedded router does not serve realm `{realm}` (its realms: {}); \
                             add it to `realms` under [router]",
                            config.realms.join(", ")
                        ),
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(invalid(origin, problems));
        }
        let components = names
            .into_iter()
            .map(|name| {
                let entry = core.components.get(&name).cloned().unwrap_or_default();
                let program = match &entry.command {
                    // Checked by `Core::validate`.
                    Some(command) => Program::Given(split_command(command).unwrap_or_default()),
                    None => Program::BuiltIn(name.clone()),
                };
                Component {
                    command_line: entry
                        .command
                        .as_ref()
                        .and_then(|_| config::line_of(text, &format!("components.{name}.command"))),
                    program,
                    enabled: entry.enabled,
                    restart: entry.restart,
                    section: split.sections.get(&name).map(|text| Section {
                        text: text.clone(),
                        line: split.lines.get(&name).copied().unwrap_or(1),
                    }),
                    name,
                }
            })
            .collect();
        Ok(RunConfig {
            origin: origin.to_owned(),
            base_dir: base_dir.to_owned(),
            router,
            realm,
            supervisor: core.supervisor,
            components,
        })
    }

    /// Whether TOML `text` is a `verger.toml` rather than a router configuration: it has
    /// a key only `verger.toml` has (`router`, `realm`, `[supervisor]`,
    /// `[components]` or a built-in component's section). Text that is not TOML is not.
    pub fn recognise(text: &str) -> bool {
        text.parse::<toml::Table>().is_ok_and(|t| {
            t.keys()
                .any(|k| RESERVED.contains(&k.as_str()) || BUILT_IN.contains(&k.as_str()))
        })
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

fn invalid(origin: &str, mut problems: Vec<(Option<usize>, Problem)>) -> ConfigError {
    problems.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
    ConfigError::Invalid {
        origin: origin.to_owned(),
        problems,
    }
}

/// The whole text as a table, or where it stops being TOML.
fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim_end().to_owned(),
        }
    })
}

/// `verger.toml` read apart: the core and each section, every one on the lines of the
/// whole file.
#[derive(Debug, PartialEq)]
struct Split {
    core: String,
    sections: BTreeMap<String, String>,
    /// The line of each section's first header.
    lines: BTreeMap<String, usize>,
}

/// A table header line: `[a.b]` or `[[a.b]]` (a comment may follow), as (array?, first
/// key, the rest of the dotted key).
fn header(line: &str) -> Option<(bool, String, String)> {
    let l = line.trim();
    let array = l.starts_with("[[");
    let inner = l.strip_prefix(if array { "[[" } else { "[" })?;
    let close = if array { "]]" } else { "]" };
    let end = inner.find(close)?;
    let after = inner[end + close.len()..].trim_start();
    let inner = inner[..end].trim();
    // Not a line of a multi-line array (`[1, 2],`): only key characters, then nothing
    // but a comment.
    let key_chars = |c: char| c.is_ascii_alphanumeric() || "_-. \"'".contains(c);
    if inner.is_empty()
        || !inner.chars().all(key_chars)
        || !(after.is_empty() || after.starts_with('#'))
    {
        return None;
    }
    let (first, rest) = if let Some(quoted) = inner.strip_prefix('"') {
        let end = quoted.find('"')?;
        (&quoted[..end], quoted[end + 1..].trim_start())
    } else {
        match inner.find('.') {
            Some(i) => (&inner[..i], &inner[i..]),
            None => (inner, ""),
        }
    };
    let rest = rest.trim_start().strip_prefix('.').unwrap_or(rest).trim();
    Some((array, first.trim().to_owned(), rest.to_owned()))
}

/// Cut `text` into the core and the `sections` (top-level table names): each part keeps
/// every line in place, lines that are not its own blanked, and a section's headers lose
/// their first key (`[gnss]` is blank, `[gnss.source]` is `[source]`).
fn split_sections(text: &str, sections: &BTreeSet<String>) -> Split {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut core: Vec<String> = Vec::with_capacity(lines.len());
    let mut parts: BTreeMap<String, Vec<String>> = sections
        .iter()
        .map(|s| (s.clone(), Vec::with_capacity(lines.len())))
        .collect();
    let mut first_line = BTreeMap::new();
    let mut current: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let mut own: Option<String> = None;
        if let Some((array, first, rest)) = header(line) {
            current = sections.contains(&first).then_some(first);
            if let Some(name) = &current {
                first_line.entry(name.clone()).or_insert(i + 1);
                own = Some(match (rest.is_empty(), array) {
                    (true, _) => String::new(),
                    (false, true) => format!("[[{rest}]]"),
                    (false, false) => format!("[{rest}]"),
                });
            }
        }
        for (name, part) in parts.iter_mut() {
            part.push(if current.as_ref() == Some(name) {
                own.clone().unwrap_or_else(|| (*line).to_owned())
            } else {
                String::new()
            });
        }
        core.push(if current.is_some() {
            String::new()
        } else {
            (*line).to_owned()
        });
    }
    Split {
        core: core.join("\n"),
        sections: parts.into_iter().map(|(k, v)| (k, v.join("\n"))).collect(),
        lines: first_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<RunConfig, String> {
        RunConfig::from_toml_str(text, "verger.toml", Path::new("/etc/verger"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_file_runs_the_four_components_on_the_embedded_router() {
        let c = read("").unwrap();
        assert_eq!(c.router, RouterChoice::Embedded(Box::default()));
        assert_eq!(c.realm, "orchard");
        let names: Vec<&str> = c.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, BUILT_IN);
        assert!(c
            .components
            .iter()
            .all(|c| c.enabled && c.section.is_none()));
        assert_eq!(
            c.component("dose").unwrap().program,
            Program::BuiltIn("dose".into())
        );
        assert_eq!(c.supervisor, SupervisorSettings::default());
    }

    const FULL: &str = r#"# a tractor
realm = "farm"

[router]
listen = "0.0.0.0:8080"
realms = ["farm"]

[components.dose]
command = "python3 'my dose.py' --rate 2"

[components.logger]
command = "./logger"
restart = "always"

[components.gnss]
enabled = false

[gnss]
stale_after = "1.5s"
[gnss.source]
serial = "/dev/ttyUSB0"

[[sprayer.sections]]
id = "left"
max_flow_l_min = 20.0

[supervisor]
restart_delay = "200ms"

[logger]
level = 3
"#;

    #[test]
    fn each_section_is_its_program_s_settings_on_the_same_lines() {
        let c = read(FULL).unwrap();
        assert_eq!(c.realm, "farm");
        let RouterChoice::Embedded(router) = &c.router else {
            panic!("{:?}", c.router)
        };
        assert_eq!(router.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.supervisor.restart_delay, Duration::from_millis(200));
        let dose = c.component("dose").unwrap();
        assert_eq!(
            dose.program,
            Program::Given(vec![
                "python3".into(),
                "my dose.py".into(),
                "--rate".into(),
                "2".into()
            ])
        );
        assert_eq!(dose.command_line, Some(9));
        assert!(dose.section.is_none());
        let gnss = c.component("gnss").unwrap();
        assert!(!gnss.enabled);
        let section = gnss.section.as_ref().unwrap();
        assert_eq!(section.line, 18);
        let lines: Vec<&str> = section.text.split('\n').collect();
        assert_eq!(lines.len(), FULL.split('\n').count());
        assert_eq!(lines[18], "stale_after = \"1.5s\"");
        assert_eq!(lines[19], "[source]");
        assert_eq!(lines[20], "serial = \"/dev/ttyUSB0\"");
        assert!(lines[..17].iter().all(|l| l.is_empty()));
        let sprayer = c.component("sprayer").unwrap().section.clone().unwrap();
        let table: toml::Table = sprayer.text.parse().unwrap();
        assert_eq!(table["sections"][0]["id"].as_str(), Some("left"));
        assert_eq!(sprayer.text.split('\n').nth(22), Some("[[sections]]"));
        let logger = c.component("logger").unwrap();
        assert_eq!(logger.restart, Restart::Always);
        assert_eq!(logger.program, Program::Given(vec!["./logger".into()]));
        let names: Vec<&str> = c.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["gnss", "map", "dose", "sprayer", "logger"]);
    }

    #[test]
    fn an_existing_router_replaces_the_embedded_one() {
        let c = read("router = \"ws://10.0.0.2:8080/ws\"\n").unwrap();
        assert_eq!(
            c.router,
            RouterChoice::External("ws://10.0.0.2:8080/ws".into())
        );
        assert_eq!(c.realm, "orchard");
        let e = read("router = \"http://x\"\n").unwrap_err();
        assert!(e.starts_with("verger.toml: line 1: router: "), "{e}");
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let text = "# realm\n\
                    [supervisor]\n\
                    restart_delay = \"1ms\"\n\
                    stop_timout = \"1s\"\n\
                    [components.logger]\n\
                    enabled = true\n\
                    [components.dose]\n\
                    command = \"python3 'x\"\n\
                    [router]\n\
                    max_sessions = \"many\"\n\
                    [weather]\n\
                    x = 1\n";
        let e = read(text).unwrap_err();
        for part in [
            "line 3: supervisor.restart_delay: 1ms is out of range",
            "line 4: supervisor.stop_timout: unknown field",
            "line 5: components.logger: `command` is required",
            "line 8: components.dose.command: `python3 'x` cannot be split",
            "line 10: router.max_sessions: expected a whole number",
            "line 11: weather: unknown section",
        ] {
            assert!(e.contains(part), "{part}\nin {e}");
        }
        let e = read("realm = \"farm\"\n").unwrap_err();
        assert!(
            e.contains("line 1: realm: the embedded router does not serve realm `farm`"),
            "{e}"
        );
        let e = read("[components.router]\ncommand = \"x\"\n").unwrap_err();
        assert!(
            e.contains("line 1: components.router: `router` is a key"),
            "{e}"
        );
        let e = read("[gnss\n").unwrap_err();
        assert!(e.starts_with("verger.toml: line 1, column"), "{e}");
    }

    #[test]
    fn a_section_that_cannot_be_read_apart_is_refused() {
        let e = read("gnss.stale_after = \"1s\"\n").unwrap_err();
        assert!(
            e.contains("line 1: gnss: write this section as `[gnss]`"),
            "{e}"
        );
        let e = read("[map]\nnote = \"\"\"\n[gnss]\n\"\"\"\n").unwrap_err();
        assert!(e.contains("map: write this section"), "{e}");
    }

    #[test]
    fn verger_toml_is_told_from_a_router_configuration() {
        assert!(RunConfig::recognise("[components.dose]\ncommand = \"x\"\n"));
        assert!(RunConfig::recognise("[gnss.source]\nserial = \"/dev/x\"\n"));
        assert!(RunConfig::recognise("router = \"ws://h:1/ws\"\n"));
        assert!(!RunConfig::recognise(
            "listen = \"127.0.0.1:8080\"\nrealms = [\"a\"]\n"
        ));
        assert!(!RunConfig::recognise(""));
        assert!(!RunConfig::recognise("[gnss"));
    }

    #[test]
    fn headers_are_read_with_their_first_key() {
        assert_eq!(header("[gnss]"), Some((false, "gnss".into(), "".into())));
        assert_eq!(
            header("  [[ sprayer.sections ]] # left"),
            Some((true, "sprayer".into(), "sections".into()))
        );
        assert_eq!(
            header("[\"dose\".model]"),
            Some((false, "dose".into(), "model".into()))
        );
        assert_eq!(header("x = [1]"), None);
        assert_eq!(header("  [1, 2],"), None);
        assert_eq!(header("[a] x"), None);
    }

    #[test]
    fn restart_modes() {
        assert!(Restart::Always.restarts(true));
        assert!(!Restart::OnFailure.restarts(true));
        assert!(Restart::OnFailure.restarts(false));
        assert!(!Restart::Never.restarts(false));
    }
}
