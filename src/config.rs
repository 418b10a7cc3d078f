//! `serve`'s settings from four places with one definition.
//!
//! Every `serve` option is one field of `ServeArgs` (src/main.rs) and
//! nothing else. From that field's clap definition this module derives,
//! with no second list to keep in sync:
//!
//! - its environment variable: `RINGSTORE_` and the flag in upper snake
//!   case (`--data-dir` → `RINGSTORE_DATA_DIR`);
//! - its config-file key: the flag in snake case (`data_dir`);
//! - its entry in the configuration reference (docs/configuration.md,
//!   `ringstore config reference`; a test keeps the file current).
//!
//! Precedence: command-line flags > environment > config file > built-in
//! defaults. The file's values are installed as the options' defaults
//! before clap parses, and clap already ranks flags over environment over
//! defaults; so a file value goes through the same parser (types, ranges,
//! enums) as the same value given as a flag.

use clap::builder::{BoolishValueParser, Command};
use clap::{Arg, ArgAction, ArgMatches};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Prefix of every `serve` option's environment variable.
pub const ENV_PREFIX: &str = "RINGSTORE_";
/// The `--config FILE` option's id: read before the others, never a file key.
pub const CONFIG_ARG: &str = "config";
/// The name of the `serve` subcommand (its options are also the top level's).
pub const SERVE: &str = "serve";
/// Config files are a few KiB; anything much larger is not one.
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// What `--help` says about where options come from.
pub const PRECEDENCE_HELP: &str = "Every option can also be set by its environment variable \
(shown as [env: ...]) or by its key in the --config FILE (the option's name in snake_case: \
--data-dir is data_dir). Precedence: command-line flags > environment > config file > defaults. \
`ringstore config reference` lists every key; `ringstore config check FILE` validates a file.";

/// Whether `arg` is one of the options the environment and the file may set
/// (not clap's own --help/--version).
fn is_setting(arg: &Arg) -> bool {
    arg.get_long().is_some() && !matches!(arg.get_id().as_str(), "help" | "version")
}

/// The file key of an option: its long flag in snake case; None for
/// `--config` itself and for clap's own flags.
pub fn file_key(arg: &Arg) -> Option<String> {
    if !is_setting(arg) || arg.get_id() == CONFIG_ARG {
        return None;
    }
    arg.get_long().map(|l| l.replace('-', "_"))
}

/// The environment variable of an option.
pub fn env_name(arg: &Arg) -> Option<String> {
    if !is_setting(arg) {
        return None;
    }
    let long = arg.get_long()?;
    Some(format!(
        "{ENV_PREFIX}{}",
        long.replace('-', "_").to_uppercase()
    ))
}

fn is_flag(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::SetTrue)
}

/// Gives every option of a serve argument set its environment variable, and
/// on/off flags a parser that takes 1/0, yes/no, true/false, on/off (from
/// the environment and the file alike).
fn with_env(cmd: Command) -> Command {
    cmd.mut_args(|arg| {
        let Some(env) = env_name(&arg) else {
            return arg;
        };
        let arg = arg.env(env);
        if is_flag(&arg) {
            arg.value_parser(BoolishValueParser::new())
        } else {
            arg
        }
    })
}

/// The CLI with environment variables on the serve options: the top level
/// (where `serve` is the default command) and the `serve` subcommand.
pub fn cli(cmd: Command) -> Command {
    let cmd = with_env(cmd).after_help(PRECEDENCE_HELP);
    cmd.mut_subcommand(SERVE, |s| with_env(s).after_help(PRECEDENCE_HELP))
}

/// A parsed config file: each key's values as clap would read them from the
/// command line.
#[derive(Debug, Default)]
pub struct ConfigFile {
    pub values: BTreeMap<String, Vec<String>>,
}

/// The serve options by file key.
fn options_by_key(serve: &Command) -> BTreeMap<String, Arg> {
    serve
        .get_arguments()
        .filter_map(|a| file_key(a).map(|k| (k, a.clone())))
        .collect()
}

/// Reads and checks a config file against the serve options in `serve`:
/// TOML syntax, every key an option (unknown keys are an error naming the
/// key), every value one the option's own parser accepts.
pub fn load(path: &Path, serve: &Command) -> Result<ConfigFile, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("config file {shown}: {e}"))?;
    if meta.len() > MAX_CONFIG_FILE_BYTES {
        return Err(format!(
            "config file {shown}: {} bytes; a config file is at most {MAX_CONFIG_FILE_BYTES}",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("config file {shown}: {e}"))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("config file {shown}: {e}"))?;
    let options = options_by_key(serve);
    let mut file = ConfigFile::default();
    for (key, value) in &table {
        let Some(arg) = options.get(key) else {
            return Err(format!(
                "config file {shown}: unknown key `{key}` (not a serve option; \
                 `ringstore config reference` lists them)"
            ));
        };
        let values = clap_values(arg, value)
            .map_err(|e| format!("config file {shown}: key `{key}`: {e}"))?;
        check_value(serve, arg, &values)
            .map_err(|e| format!("config file {shown}: key `{key}`: {e}"))?;
        file.values.insert(key.clone(), values);
    }
    Ok(file)
}

/// A TOML value as the strings clap would get from the command line.
fn clap_values(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let many = matches!(arg.get_action(), ArgAction::Append);
    match value {
        toml::Value::Array(items) if many => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => {
            return Err(format!(
                "expected a string, number or boolean, found a {}",
                other.type_str()
            ))
        }
    })
}

/// The command without environment variables (to check a file on its own).
pub fn without_env(cmd: Command) -> Command {
    cmd.mut_args(|a| a.env(None::<&str>))
}

/// Parses one file value with its option's own parser: a command that holds
/// only the defaults of the file's value for this option, no environment.
fn check_value(serve: &Command, arg: &Arg, values: &[String]) -> Result<(), String> {
    let id = arg.get_id().as_str().to_string();
    let cmd = without_env(serve.clone()).mut_arg(&id, |a| a.default_values(values.to_vec()));
    let argv = [OsString::from(SERVE)];
    match cmd.try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) => Err(clap_message(&e)),
    }
}

/// A clap error's text without its "error: " prefix and usage lines.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.trim_start_matches("error: ").to_string()
}

/// Installs the file's values as the defaults of the serve options of
/// `cmd` (the serve command itself, or the top level).
pub fn with_file_defaults(cmd: Command, file: &ConfigFile) -> Command {
    cmd.mut_args(
        |arg| match file_key(&arg).and_then(|k| file.values.get(&k)) {
            Some(values) => arg.default_values(values.clone()),
            None => arg,
        },
    )
}

/// The CLI with `file`'s values as the serve options' defaults.
pub fn apply(cmd: Command, file: &ConfigFile) -> Command {
    let cmd = with_file_defaults(cmd, file);
    cmd.mut_subcommand(SERVE, |s| with_file_defaults(s, file))
}

/// The `--config` path given on the command line or in the environment, if
/// any. A lenient first parse: errors are for the real parse to report.
pub fn config_path(cmd: &Command, argv: &[OsString]) -> Option<PathBuf> {
    let matches = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv)
        .ok()?;
    let from = |m: &ArgMatches| m.try_get_one::<PathBuf>(CONFIG_ARG).ok().flatten().cloned();
    match matches.subcommand() {
        Some((SERVE, sub)) => from(sub).or_else(|| from(&matches)),
        Some(_) => None,
        None => from(&matches),
    }
}

/// The `serve` subcommand of the CLI.
pub fn serve_command(cli: &Command) -> Command {
    cli.find_subcommand(SERVE)
        .cloned()
        .expect("the CLI has a serve subcommand")
}

/// Each serve option's value with `file` and where it came from, for
/// `config check`.
pub fn sources(serve: &Command, file: &ConfigFile) -> Vec<(String, String, &'static str)> {
    let cmd = with_file_defaults(serve.clone(), file);
    let Ok(m) = cmd.clone().try_get_matches_from([SERVE]) else {
        return Vec::new();
    };
    cmd.get_arguments()
        .filter_map(|arg| {
            let key = file_key(arg)?;
            let id = arg.get_id().as_str();
            let shown = m
                .get_raw(id)
                .map(|vs| {
                    vs.map(|v| v.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let source = match m.value_source(id) {
                Some(clap::parser::ValueSource::EnvVariable) => "environment",
                Some(clap::parser::ValueSource::DefaultValue) if file.values.contains_key(&key) => {
                    "config file"
                }
                Some(clap::parser::ValueSource::DefaultValue) => "default",
                Some(_) => "command line",
                None => "unset",
            };
            Some((key, shown, source))
        })
        .collect()
}

/// The configuration reference (docs/configuration.md), generated from the
/// serve options' definitions.
pub fn reference_markdown(serve: &Command) -> String {
    let mut out = String::from(REFERENCE_INTRO);
    for arg in serve.get_arguments() {
        if arg.is_hide_set() {
            continue;
        }
        let Some(env) = env_name(arg) else { continue };
        let long = arg.get_long().unwrap_or_default();
        let key = file_key(arg);
        out.push_str(&format!(
            "\n### `{}`\n\n",
            key.as_deref().unwrap_or(&format!("--{long}"))
        ));
        let value = if is_flag(arg) {
            String::new()
        } else {
            let name = arg
                .get_value_names()
                .and_then(|n| n.first())
                .map(|n| n.to_string())
                .unwrap_or_else(|| "VALUE".into());
            format!(" <{name}>")
        };
        let mut line = format!("flag `--{long}{value}` · environment `{env}`");
        if key.is_none() {
            line.push_str(" · not a file key");
        }
        out.push_str(&line);
        out.push_str(&default_line(arg));
        out.push_str("\n\n");
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        out.push_str(help.trim());
        out.push('\n');
        let choices: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| format!("`{}`", p.get_name()))
            .collect();
        if !choices.is_empty() && !is_flag(arg) {
            out.push_str(&format!("\nOne of: {}.\n", choices.join(", ")));
        }
    }
    out
}

fn default_line(arg: &Arg) -> String {
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if is_flag(arg) {
        " · on/off (`true`/`false`; the environment also takes 1/0, yes/no)".into()
    } else if defaults.is_empty() {
        " · no default".into()
    } else {
        format!(" · default `{}`", defaults.join(","))
    }
}

const REFERENCE_INTRO: &str = "# Configuration reference

<!-- Generated by `ringstore config reference` from the serve options'
definitions; a test in src/config.rs fails when this file differs. After changing an
option: `cargo run -- config reference > docs/configuration.md`. -->

Every `ringstore serve` option can be given three ways:

- as a command-line flag (`--data-dir /srv/ringstore`),
- as an environment variable (`RINGSTORE_DATA_DIR=/srv/ringstore`),
- as a key in a TOML config file passed with `--config FILE` (or
  `RINGSTORE_CONFIG=FILE`): `data_dir = \"/srv/ringstore\"`.

When an option is given in more than one place, the command line wins over
the environment, the environment over the config file, and the config file
over the built-in default. An unknown key in the file is an error naming the
key; `ringstore config check FILE` validates a file (keys, values, and what
the server would run with) without starting anything.

```toml
# /etc/ringstore/ringstore.toml
listen = \"0.0.0.0:9000\"
data_dir = \"/var/lib/ringstore\"
cache_mib = 1024
```

On/off options take `true` or `false` in the file (`no_pin = true`); in the
environment they also take `1`/`0`, `yes`/`no` and `on`/`off`.

Besides the options below, the environment sets the root credential when a
data dir is first created or to change it (`RINGSTORE_ACCESS_KEY`,
`RINGSTORE_SECRET_KEY`): these are secrets, so they are not config-file keys.

## Options
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cli;
    use clap::CommandFactory;

    fn cli() -> Command {
        super::cli(Cli::command())
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ringstore.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn parse(cmd: Command, argv: &[&str]) -> ArgMatches {
        let cmd = without_env(cmd).mut_subcommand(SERVE, without_env);
        cmd.try_get_matches_from(argv).expect("parses")
    }

    #[test]
    fn every_serve_option_has_its_environment_variable_and_file_key() {
        let cli = cli();
        let serve = serve_command(&cli);
        let mut keys = Vec::new();
        for arg in serve.get_arguments().filter(|a| is_setting(a)) {
            let long = arg.get_long().expect("long");
            let env = arg.get_env().expect("every option has an env var");
            assert_eq!(env.to_str(), env_name(arg).as_deref(), "--{long}");
            assert!(env.to_str().is_some_and(|e| e.starts_with(ENV_PREFIX)));
            match file_key(arg) {
                Some(k) => keys.push(k),
                None => assert_eq!(arg.get_id(), CONFIG_ARG),
            }
        }
        for k in [
            "listen",
            "data_dir",
            "shards",
            "log_format",
            "io_uring_setup",
        ] {
            assert!(keys.iter().any(|x| x == k), "missing {k} in {keys:?}");
        }
        // `ringstore` alone is `ringstore serve`: the same options.
        let top: Vec<String> = cli.get_arguments().filter_map(file_key).collect();
        assert_eq!(top, keys);
    }

    #[test]
    fn a_file_value_fills_what_the_command_line_does_not_set() {
        let (_d, path) = file_with("region = \"eu-west-3\"\nshards = 3\nno_pin = true\n");
        let cli = cli();
        let file = load(&path, &serve_command(&cli)).expect("loads");
        let cmd = apply(cli, &file);
        let m = parse(cmd.clone(), &["ringstore", "serve", "--shards", "5"]);
        let (_, serve) = m.subcommand().expect("serve");
        assert_eq!(
            serve.get_one::<String>("region").map(String::as_str),
            Some("eu-west-3")
        );
        assert_eq!(serve.get_one::<usize>("shards"), Some(&5));
        assert_eq!(serve.get_one::<bool>("no_pin"), Some(&true));
        // Without a subcommand the top level is `serve`: the same rules.
        let m = parse(cmd, &["ringstore"]);
        assert_eq!(m.get_one::<usize>("shards"), Some(&3));
        assert_eq!(
            m.get_one::<usize>("cache_mib"),
            Some(&256),
            "built-in default"
        );
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let (_d, path) = file_with("listen = \"127.0.0.1:9000\"\nlsiten = \"0.0.0.0:9000\"\n");
        let err = load(&path, &serve_command(&cli())).expect_err("unknown key");
        assert!(err.contains("unknown key `lsiten`"), "{err}");
        let (_d, path) = file_with("config = \"other.toml\"\n");
        let err = load(&path, &serve_command(&cli())).expect_err("config is not a key");
        assert!(err.contains("unknown key `config`"), "{err}");
        let (_d, path) = file_with("[tls]\nlisten = \"0.0.0.0:9443\"\n");
        let err = load(&path, &serve_command(&cli())).expect_err("no sections");
        assert!(err.contains("unknown key `tls`"), "{err}");
    }

    #[test]
    fn a_bad_value_is_an_error_naming_its_key() {
        for (text, key) in [
            ("shards = \"many\"", "shards"),
            ("listen = \"not an address\"", "listen"),
            ("io_uring_setup = \"turbo\"", "io_uring_setup"),
            ("idle_spin_us = 999999", "idle_spin_us"),
            ("no_pin = \"perhaps\"", "no_pin"),
            ("cache_mib = [1, 2]", "cache_mib"),
            ("region = { name = \"x\" }", "region"),
        ] {
            let (_d, path) = file_with(text);
            let err = load(&path, &serve_command(&cli())).expect_err(text);
            assert!(err.contains(&format!("key `{key}`")), "{text}: {err}");
        }
        let (_d, path) = file_with("shards = ");
        let err = load(&path, &serve_command(&cli())).expect_err("syntax");
        assert!(err.contains("ringstore.toml"), "{err}");
    }

    #[test]
    fn config_path_comes_from_either_level_or_nowhere() {
        let cli = cli();
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let path = config_path(&cli, &argv(&["ringstore", "--config", "/a.toml"]));
        assert_eq!(path, Some(PathBuf::from("/a.toml")));
        let path = config_path(&cli, &argv(&["ringstore", "serve", "--config", "/b.toml"]));
        assert_eq!(path, Some(PathBuf::from("/b.toml")));
        let path = config_path(&cli, &argv(&["ringstore", "verify", "/data"]));
        assert_eq!(path, None);
    }

    /// docs/configuration.md is generated from the option definitions; an
    /// option added or changed without regenerating it fails here.
    #[test]
    fn the_configuration_reference_in_docs_is_current() {
        let generated = reference_markdown(&serve_command(&cli()));
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} is out of date: run `cargo run -- config reference > docs/configuration.md`",
            path.display()
        );
    }
}
