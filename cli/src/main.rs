//! `coolify`: the operator CLI. Parses arguments and hands off to the
//! concern that does the work.

mod agent_api;
mod appliance;
mod args;
mod broker;
mod config_layout;
mod engine;
mod file_write;
mod firewall;
mod install;
mod namespaces;
mod output;
mod pki;

use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use appliance::{ApplianceError, CpSettings, LocalBroker};
use args::cp::{CpCommand, Switch, UpArgs};
use args::{Cli, Command};
use output::{OutputFormat, Reporter};

/// `cp status` exit code when the appliance does not exist.
const EXIT_ABSENT: u8 = 3;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Reporter::new(cli.output);
    match &cli.command {
        Command::Init(a) => {
            let pool = match namespace_pool(&a.namespaces, a.host_token_file.as_deref()) {
                Ok(pool) => pool,
                Err(e) => return fail(cli.output, &e),
            };
            match namespaces::init(&cli.engine_socket, &a.namespaces, pool).await {
                Ok(report) => {
                    emit(cli.output, &report, || report.render());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(cli.output, &e.into()),
            }
        }
        Command::Cp(CpCommand::Up(a)) => {
            let with_broker = match local_broker(a) {
                Ok(b) => b,
                Err(e) => return fail(cli.output, &ApplianceError::Usage(e)),
            };
            let agent_file = a
                .agent
                .agent_config
                .clone()
                .unwrap_or_else(|| cli.config_dir.join("agent.toml"));
            let agent = match appliance::agent_settings(&agent_file, a.agent.given()) {
                Ok(vars) => vars,
                Err(e) => return fail(cli.output, &e),
            };
            let mut settings = CpSettings {
                namespaces: None,
                name: a.instance.name.clone(),
                image_repo: a.instance.image_repo.clone(),
                config_dir: cli.config_dir.clone(),
                data_dir: a.data_dir.clone(),
                run_dir: a.run_dir.clone(),
                engine_socket: match engine::socket_path(&cli.engine_socket) {
                    Ok(p) => p,
                    Err(e) => return fail(cli.output, &e.into()),
                },
                mgmt_ip: a.mgmt_ip.unwrap_or_else(appliance::default_mgmt_ip),
                api_port: a.api_port,
                health_port: a.health_port,
                timeout: a.timeout,
                drain: a.drain_timeout,
                firewall: a.firewall == Switch::On,
                runtime_services: a.runtime_services.clone(),
                broker: match broker::resolve_link(&a.broker, &cli.config_dir) {
                    Ok(link) => link,
                    Err(e) => return fail(cli.output, &ApplianceError::Usage(e)),
                },
                builder: a.builder,
                with_broker,
                agent,
            };
            // Every setting is checked before anything is created, the
            // namespaces' networks included.
            if let Err(e) = appliance::check_agent_settings(&settings) {
                return fail(cli.output, &e);
            }
            if a.namespaces.namespaces.is_some() {
                let pool = match namespace_pool(&a.namespaces, a.broker.host_token_file.as_deref())
                {
                    Ok(pool) => pool,
                    Err(e) => return fail(cli.output, &e),
                };
                match namespaces::init(&cli.engine_socket, &a.namespaces, pool).await {
                    Ok(report) => settings.namespaces = Some(report.coold_namespaces),
                    Err(e) => return fail(cli.output, &e.into()),
                }
            }
            match appliance::up(&settings, &cli.engine_socket, &out).await {
                Ok(report) => {
                    record_up(&cli.config_dir, &settings);
                    emit(cli.output, &report, || {
                        format!(
                            "{} is up and healthy ({} ms); agent API https://{}:{}",
                            report.container,
                            report.duration_ms,
                            settings.mgmt_ip,
                            settings.api_port
                        )
                    });
                    ExitCode::SUCCESS
                }
                Err(e) => fail(cli.output, &e),
            }
        }
        Command::Cp(CpCommand::Down(a)) => {
            match appliance::down(
                &a.instance.name,
                &a.instance.broker_name,
                &a.instance.image_repo,
                a.timeout,
                a.purge,
                &a.run_dir,
                &cli.engine_socket,
                &out,
            )
            .await
            {
                Ok(report) => {
                    emit(cli.output, &report, || {
                        let agent = if report.was_present {
                            format!("{} is down", report.container)
                        } else {
                            format!("{} was not present", report.container)
                        };
                        if report.broker_was_present {
                            format!("{agent}; {} is down", report.broker)
                        } else {
                            agent
                        }
                    });
                    ExitCode::SUCCESS
                }
                Err(e) => fail(cli.output, &e),
            }
        }
        Command::Broker(a) => broker::run(&cli.config_dir, a).await,
        Command::Dispatch(a) => broker::dispatch(a).await,
        Command::Fleet(a) => match broker::fleet(a).await {
            Ok(report) => {
                emit(cli.output, &report, || report.render());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("coolify: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Firewall(a) => {
            firewall::run(&cli.config_dir, &cli.engine_socket, cli.output, a).await
        }
        Command::Cp(CpCommand::Install(a)) => match install::install(&cli.config_dir, a) {
            Ok(report) => {
                emit(cli.output, &report, || report.render());
                ExitCode::SUCCESS
            }
            Err(e) => fail_install(cli.output, &e),
        },
        Command::Cp(CpCommand::Uninstall(a)) => {
            match install::uninstall(&cli.config_dir, &a.name) {
                Ok(report) => {
                    emit(cli.output, &report, || report.render(&a.name));
                    ExitCode::SUCCESS
                }
                Err(e) => fail_install(cli.output, &e),
            }
        }
        Command::Cp(CpCommand::Rotate(a)) => {
            let request = appliance::RotateRequest {
                name: a.name.clone(),
                config_dir: cli.config_dir.clone(),
                api_token: a.api_token,
                server_cert: a.server_cert,
                timeout: a.timeout,
            };
            match appliance::rotate(&request, &cli.engine_socket, &out).await {
                Ok(report) => {
                    emit(cli.output, &report, || {
                        let what: Vec<&str> = [
                            report.api_token.as_ref().map(|_| "API token"),
                            report
                                .server_certificate
                                .as_ref()
                                .map(|_| "server certificate"),
                        ]
                        .into_iter()
                        .flatten()
                        .collect();
                        format!(
                            "{} rotated; {} serves it at {}",
                            what.join(" and "),
                            report.container,
                            report.api
                        )
                    });
                    ExitCode::SUCCESS
                }
                Err(e) => fail(cli.output, &e),
            }
        }
        Command::Cp(CpCommand::Status(a)) => {
            match appliance::status(&a.name, &a.broker_name, &cli.engine_socket, &cli.config_dir)
                .await
            {
                Ok(report) => {
                    emit(cli.output, &report, || report.render());
                    if !report.present {
                        ExitCode::from(EXIT_ABSENT)
                    } else if report.healthy {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => fail(cli.output, &e),
            }
        }
    }
}

/// The pool of this host's namespace /24s: its token's slice when it has a
/// token from `coolify broker enroll`, else --subnet-pool or the default.
fn namespace_pool(
    a: &args::cp::NamespaceArgs,
    host_token_file: Option<&std::path::Path>,
) -> Result<namespaces::Cidr, ApplianceError> {
    let slice = host_token_file
        .map(broker::subnets::slice_of_token)
        .transpose()
        .map_err(ApplianceError::Usage)?
        .flatten();
    namespaces::pool(a, slice)
        .map_err(|e| ApplianceError::from(namespaces::ProvisionError::from(e)))
}

/// `--with-broker`'s settings, or `None` without the flag.
fn local_broker(a: &UpArgs) -> Result<Option<LocalBroker>, String> {
    let h = &a.single_host;
    if !h.with_broker {
        return Ok(None);
    }
    let socket = h
        .broker_socket
        .clone()
        .unwrap_or_else(|| a.run_dir.join("broker.sock"));
    // Mount sources and the broker's own check want an absolute path.
    let socket = std::path::absolute(&socket)
        .map_err(|e| format!("--broker-socket {}: {e}", socket.display()))?;
    Ok(Some(LocalBroker {
        name: a.instance.broker_name.clone(),
        host_id: broker::single_host::host_id(h)?,
        grpc_bind: h.broker_grpc_bind,
        socket,
        socket_gid: broker::single_host::socket_gid(h)?,
        state_dir: std::path::absolute(a.data_dir.join("broker"))
            .map_err(|e| format!("--data-dir {}: {e}", a.data_dir.display()))?,
    }))
}

fn emit<T: Serialize>(format: OutputFormat, value: &T, text: impl FnOnce() -> String) {
    match format {
        OutputFormat::Json => match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("coolify: cannot render JSON: {e}"),
        },
        OutputFormat::Text => println!("{}", text()),
    }
}

/// Saves the settings of a successful `cp up` for `cp install`. The
/// appliance is up either way, so a failure here is a warning that says
/// what `cp install` will then lack.
fn record_up(config_dir: &std::path::Path, s: &CpSettings) {
    let resolved = install::Resolved {
        container: s.name.clone(),
        engine_socket: s.engine_socket.clone(),
        config_dir: config_dir.to_path_buf(),
        run_dir: s.run_dir.clone(),
        firewall: s.firewall,
        runtime_services: s.runtime_services.clone(),
        broker_container: s.with_broker.as_ref().map(|b| b.name.clone()),
    };
    if let Err(e) = install::record_up(config_dir, resolved) {
        eprintln!("coolify: warning: `cp install` will not find this run's settings: {e}");
    }
}

fn fail_install(format: OutputFormat, e: &install::InstallError) -> ExitCode {
    match format {
        OutputFormat::Json => println!("{}", serde_json::json!({ "error": e.to_string() })),
        OutputFormat::Text => eprintln!("coolify: {e}"),
    }
    ExitCode::FAILURE
}

fn fail(format: OutputFormat, e: &ApplianceError) -> ExitCode {
    match format {
        OutputFormat::Json => println!("{}", serde_json::json!({ "error": e.to_string() })),
        OutputFormat::Text => eprintln!("coolify: {e}"),
    }
    ExitCode::FAILURE
}
