//! `ward token`: the server's API tokens for robots and people, each bound to one person
//! of the estate's Team and one of their roles, stored only as a hash, revocable.

use super::store_args::{StoreArgs, record_in_store, runtime, store_failure};
use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Create, list and revoke the server's API tokens.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a token acting as a person (or robot) of the Team with one of their roles;
    /// it is printed once and kept only as a hash.
    #[command(
        after_help = "Examples:\n  ward --estate care token create --subject backup-robot --role dba --expires 30d\n  ward token create --subject alice --role security-reviewer --expires 8h -o json | jq -r .token"
    )]
    Create(CreateArgs),
    /// List tokens (never their secrets).
    #[command(after_help = "Example:\n  ward token list -o json")]
    List(ListArgs),
    /// Revoke a token by its id; it is refused from then on.
    #[command(after_help = "Example:\n  ward token revoke 1a2b3c4d5e6f7a8b")]
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The Team person (`people[].name`) it acts as.
    #[arg(long, value_name = "NAME")]
    pub subject: String,
    /// platform-ops, dba, security-reviewer or app-support: one the person holds.
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// How long it is valid (e.g. 8h, 30d; at most 365d).
    #[arg(long, value_name = "DURATION")]
    pub expires: String,
    /// What it is for, for listings.
    #[arg(long, default_value = "")]
    pub label: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    /// The token's id (as listed).
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

const MAX_VALIDITY_SECS: u64 = 365 * 24 * 3600;

pub fn run(cx: &Context, cmd: Command) -> Result<Exit, Failure> {
    match cmd {
        Command::Create(args) => create(cx, args),
        Command::List(args) => {
            let url = args.store.url(cx)?;
            let tokens = runtime()?.block_on(async {
                let store = ward_store::Store::open(&url).await.map_err(store_failure)?;
                store.list_tokens().await.map_err(store_failure)
            })?;
            match cx.output {
                Output::Json => print_json(
                    &tokens
                        .iter()
                        .map(|t| {
                            serde_json::json!({
                                "id": t.id, "subject": t.subject, "role": t.role, "label": t.label,
                                "createdBy": t.created_by, "createdAt": t.created_at,
                                "expiresAt": t.expires_at, "revokedAt": t.revoked_at, "revokedBy": t.revoked_by,
                            })
                        })
                        .collect::<Vec<_>>(),
                )?,
                Output::Text => {
                    let mut rows = vec![
                        ["ID", "SUBJECT", "ROLE", "EXPIRES", "REVOKED", "LABEL"]
                            .map(String::from)
                            .to_vec(),
                    ];
                    for t in &tokens {
                        rows.push(vec![
                            t.id.clone(),
                            t.subject.clone(),
                            t.role.to_string(),
                            t.expires_at.strftime("%Y-%m-%d %H:%MZ").to_string(),
                            t.revoked_at.map_or("-".into(), |r| r.strftime("%Y-%m-%d %H:%MZ").to_string()),
                            t.label.clone(),
                        ]);
                    }
                    print!("{}", crate::commands::classify::table(&rows));
                }
            }
            Ok(Exit::Ok)
        }
        Command::Revoke(args) => {
            let url = args.store.url(cx)?;
            let info = runtime()?.block_on(async {
                let store = ward_store::Store::open(&url).await.map_err(store_failure)?;
                let info = store
                    .revoke_token(&args.id, &cx.ws.actor)
                    .await
                    .map_err(store_failure)?;
                let event = ward_ops::event::TokenRevoke {
                    token: info.id.clone(),
                };
                record_in_store(&store, cx, &event.into(), &info.subject).await?;
                Ok::<_, Failure>(info)
            })?;
            match cx.output {
                Output::Json => print_json(&serde_json::json!({"id": info.id, "revoked": true}))?,
                Output::Text => println!("token {} ({}) revoked", info.id, info.subject),
            }
            Ok(Exit::Ok)
        }
    }
}

fn create(cx: &Context, args: CreateArgs) -> Result<Exit, Failure> {
    let role: ward_store::Role = args.role.parse().map_err(|_| {
        Failure::bad_input(
            format!("--role {}: not a role", args.role),
            "one of platform-ops, dba, security-reviewer, app-support",
        )
    })?;
    let validity = ward_estate::units::Duration::parse(&args.expires).map_err(|e| {
        Failure::bad_input(format!("--expires {}: {e}", args.expires), "e.g. 8h, 30d")
    })?;
    if validity.as_secs() == 0 || validity.as_secs() > MAX_VALIDITY_SECS {
        return Err(Failure::bad_input(
            format!(
                "--expires {}: a token is valid for more than 0 and at most 365 days",
                args.expires
            ),
            "e.g. 30d; create a new token before it expires",
        ));
    }
    // A token acts as one person of the Team, with a role they hold there.
    let estate = cx.load_estate()?;
    let person = estate
        .teams
        .iter()
        .flat_map(|t| t.spec.people.iter())
        .find(|p| p.name.value == args.subject)
        .ok_or_else(|| {
            Failure::bad_input(
                format!(
                    "--subject {}: no such person in the estate's Team",
                    args.subject
                ),
                "add the person (or robot) to a Team document's people, with the role",
            )
        })?;
    let holds = person.roles.iter().any(|r| {
        serde_json::to_value(r.value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .as_deref()
            == Some(role.as_str())
    });
    if !holds {
        return Err(Failure::bad_input(
            format!(
                "--subject {}: they do not hold the {} role in the Team",
                args.subject, role
            ),
            "give them the role in the Team (a reviewed change), or pick one they hold",
        ));
    }
    let expires_at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(
            i64::try_from(validity.as_secs()).unwrap_or(0),
        ))
        .map_err(|e| Failure::bad_input(format!("--expires {}: {e}", args.expires), "e.g. 30d"))?;
    let url = args.store.url(cx)?;
    let issued = runtime()?.block_on(async {
        let store = ward_store::Store::open(&url).await.map_err(store_failure)?;
        let issued = store
            .create_token(&ward_store::NewToken {
                subject: args.subject.clone(),
                role,
                expires_at,
                created_by: cx.ws.actor.clone(),
                label: args.label.clone(),
            })
            .await
            .map_err(store_failure)?;
        let event = ward_ops::event::TokenCreate {
            token: issued.info.id.clone(),
            role: role.as_str().to_string(),
            expires_at: expires_at.to_string(),
        };
        record_in_store(&store, cx, &event.into(), &args.subject).await?;
        Ok::<_, Failure>(issued)
    })?;
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "id": issued.info.id,
            "subject": issued.info.subject,
            "role": role,
            "expiresAt": expires_at,
            "token": issued.token(),
        }))?,
        Output::Text => {
            println!("{}", issued.token());
            eprintln!(
                "token {} for {} ({}), valid until {}: shown once, kept only as a hash",
                issued.info.id,
                args.subject,
                role,
                expires_at.strftime("%Y-%m-%d %H:%MZ")
            );
        }
    }
    Ok(Exit::Ok)
}
