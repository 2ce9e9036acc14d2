mod connect;
mod engine;
mod import;
mod key;
mod key_balance;
mod key_test;
mod model;
mod provider;
mod report;
mod route;
mod serve;
mod settings;
mod token;

use anyhow::Result;

use crate::cli::Command;
use crate::context::Context;

pub fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => serve::run(ctx, args),
        Command::Provider(cmd) => provider::run(ctx, cmd),
        Command::Key(cmd) => key::run(ctx, cmd),
        Command::Import(args) => import::run(ctx, args),
        Command::Token(cmd) => token::run(ctx, cmd),
        Command::Route(cmd) => route::run(ctx, cmd),
        Command::Settings(cmd) => settings::run(ctx, cmd),
        Command::Report(args) => report::run(ctx, &args),
        Command::Model(cmd) => model::run(ctx, cmd),
        Command::Connect(args) => connect::run(ctx, &args),
        Command::HealthCheck { key } => {
            let ids: Vec<String> = key.into_iter().collect();
            let all = ids.is_empty();
            key_test::run(ctx, &ids, all, None, false)
        }
    }
}
