//! `apply`, `get`, `delete`: objects of every kind, from and to YAML manifests.

use crate::call::{call, status, Client};
use crate::output::{print_objects, values, Output};
use anyhow::{anyhow, Result};
use camplane_config::manifest;
use camplane_config::model::Kind;
use camplane_proto::v1 as pb;
use std::path::PathBuf;

/// `apply -f FILE...`: every file is read and checked before anything is sent.
pub async fn apply(c: &Client, files: &[PathBuf]) -> Result<i32> {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match manifest::load(f) {
            Ok(ms) => {
                for m in ms {
                    objects.push(pb::Object {
                        kind: m.spec.kind().as_str().into(),
                        name: m.name,
                        json: serde_json::to_vec(&m.spec.to_json())?,
                        revision: 0,
                    });
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        eprintln!("{}", errors.join("\n"));
        eprintln!("nothing was applied");
        return Ok(1);
    }
    let mut source = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The controller keeps at most 512 printable characters of it.
    source.retain(|c| !c.is_control());
    if source.chars().count() > 512 {
        let head: String = source.chars().take(480).collect();
        source = format!("{head}... ({} files)", files.len());
    }
    let r = pb::objects_client::ObjectsClient::new(c.channel.clone())
        .apply(c.req(pb::ApplyRequest {
            objects,
            source,
            dry_run: false,
        })?)
        .await
        .map_err(|e| anyhow!("{}\nnothing was applied", status(e)))?
        .into_inner();
    for a in r.results {
        println!("{}/{} {}", a.kind.to_lowercase(), a.name, a.action);
    }
    Ok(0)
}

/// `get KIND [NAME]`.
pub async fn get(c: &Client, kind: &str, name: Option<String>, output: Output) -> Result<i32> {
    let k = Kind::parse(kind).ok_or_else(|| {
        anyhow!("unknown kind {kind:?} (sites, departments, cameras, requests, users, agents, holds, feeschedules)")
    })?;
    let objs = list(c, k, name.clone().unwrap_or_default()).await?;
    print_objects(k, &objs, output, name.is_some())?;
    Ok(0)
}

/// Objects of one kind (all of them when `name` is empty), following the
/// server's pages to the end.
pub async fn list(c: &Client, kind: Kind, name: String) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = call(
            pb::objects_client::ObjectsClient::new(c.channel.clone()).get(c.req(
                pb::GetRequest {
                    kind: kind.as_str().into(),
                    name: name.clone(),
                    after: after.clone(),
                },
            )?),
        )
        .await?;
        out.extend(values(&r.objects)?);
        // A next page named no further than this one would loop forever.
        if r.next_after.is_empty() || r.next_after <= after {
            return Ok(out);
        }
        after = r.next_after;
    }
}

/// Every object of a paged list (`Users.List`, Fleet's lists): `page(after)`
/// asks for the page after `after` (empty: the first), followed to the end.
pub async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<pb::Object>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<pb::ObjectList>>,
{
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = page(after.clone()).await?;
        out.extend(r.objects);
        // A next page named no further than this one would loop forever.
        if r.next_after.is_empty() || r.next_after <= after {
            return Ok(out);
        }
        after = r.next_after;
    }
}

/// `delete KIND NAME`.
pub async fn delete(c: &Client, kind: &str, name: &str) -> Result<i32> {
    let k = Kind::parse(kind).ok_or_else(|| anyhow!("unknown kind {kind:?}"))?;
    call(
        pb::objects_client::ObjectsClient::new(c.channel.clone()).delete(c.req(
            pb::DeleteRequest {
                kind: k.as_str().into(),
                name: name.to_string(),
            },
        )?),
    )
    .await?;
    println!("{}/{name} deleted", k.as_str().to_lowercase());
    Ok(0)
}
