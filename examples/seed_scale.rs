//! Writes the rows of a large installation as CSV files for PostgreSQL's
//! `COPY`, for `scripts/bench-scale`: organizations, their active apps, and
//! their keys, each key's digest made under `KEYWARD_SECRET_KEY` as the
//! server makes it. It also writes a sample of the keys in clear (the
//! benchmark's load draws from it, never from the first organization) and
//! every key of the first organization, which the benchmark's admin signs in
//! to, with its app and id.
//!
//! ```text
//! KEYWARD_SECRET_KEY=… cargo run --release --example seed_scale -- \
//!     <first organization id> <organizations> <apps> <keys> <sample> <out dir>
//! ```
//!
//! An empty text is written `""`: `COPY` reads an empty field as NULL.
//! The first organization exists already (the migrations make it); the
//! others are written. Apps and keys are spread evenly over the
//! organizations, keys over the apps.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use keyward::domain::key_token::ParsedKey;
use keyward::domain::{AppId, KeyId, OrgId};
use keyward::secrets::MasterKey;
use secrecy::ExposeSecret;

fn usage() -> ! {
    eprintln!(
        "usage: seed_scale <first organization id> <organizations> <apps> <keys> <sample> <out dir>"
    );
    std::process::exit(2)
}

fn number(arg: Option<String>) -> usize {
    arg.and_then(|a| a.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| usage())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let first = OrgId::from(args.next().unwrap_or_else(|| usage()));
    let (orgs, apps, keys, sample) = (
        number(args.next()),
        number(args.next()),
        number(args.next()),
        number(args.next()),
    );
    let out = PathBuf::from(args.next().unwrap_or_else(|| usage()));
    let secret = std::env::var("KEYWARD_SECRET_KEY").unwrap_or_else(|_| {
        eprintln!("KEYWARD_SECRET_KEY must be the servers' key");
        std::process::exit(2)
    });
    let digest_key = MasterKey::from_bytes(secret.as_bytes()).digest_key();
    let now = keyward::clock::now().to_string();
    let csv = |name: &str| File::create(out.join(name)).map(BufWriter::new);
    let (mut org_rows, mut app_rows, mut key_rows) = (
        csv("organizations.csv")?,
        csv("apps.csv")?,
        csv("keys.csv")?,
    );
    let (mut sampled, mut first_keys) = (csv("sample.txt")?, csv("first-org-keys.txt")?);

    let org_ids: Vec<OrgId> = std::iter::once(first.clone())
        .chain((1..orgs).map(|_| OrgId::generate()))
        .collect();
    for (i, id) in org_ids.iter().enumerate().skip(1) {
        writeln!(
            org_rows,
            "{id},Business {i},business-{i},UTC,true,{now},{now}"
        )?;
    }
    let app_ids: Vec<(AppId, &OrgId)> = (0..apps)
        .map(|i| (AppId::generate(), &org_ids[i % orgs]))
        .collect();
    for (i, (id, org)) in app_ids.iter().enumerate() {
        writeln!(
            app_rows,
            "{id},{org},Integration {i},integration {i},https://app{i}.example,\"\",employee,bot,[],[],\
             services:read,\"\",active,done,{now},{now}"
        )?;
    }
    // Every `keys / sample`-th key of the other organizations is sampled, so
    // the sample spans them all; the first organization's keys are kept
    // apart for the benchmark's admin to switch off while the load runs.
    let every = ((keys - keys / orgs) / sample).max(1);
    let mut taken = 0;
    for i in 0..keys {
        let (app, org) = &app_ids[i % apps];
        let id = KeyId::generate();
        let key = ParsedKey::generate();
        let digest = digest_key.digest(key.parsed.secret());
        writeln!(
            key_rows,
            "{id},{app},{org},{},{digest},{},Key {i},\"\",services:read,true,{now},{now}",
            key.parsed.public_id(),
            key.parsed.last_four(),
        )?;
        let token = key.token.expose_secret();
        if *org == &first {
            writeln!(first_keys, "{app} {id} {token}")?;
        } else if i % every == 0 && taken < sample {
            writeln!(sampled, "{token}")?;
            taken += 1;
        }
    }
    for file in [
        &mut org_rows,
        &mut app_rows,
        &mut key_rows,
        &mut sampled,
        &mut first_keys,
    ] {
        file.flush()?;
    }
    Ok(())
}
