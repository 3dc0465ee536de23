//! `files/` and `files/{filename}/` as MAAS's `FilesHandler`/`FileHandler` serve them: list
//! (no content), create from a multipart upload (201, empty body), read (JSON with base64
//! content), delete, `?op=get&filename=` (raw bytes) and the anonymous `?op=get_by_key`.

use super::Ctx;
use crate::sim::render;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::Region;
use base64::Engine;
use serde_json::{json, Value};

fn mandatory<'a>(ctx: &'a Ctx, key: &str) -> Result<&'a str, ApiError> {
    ctx.params
        .get_nonempty(key)
        .ok_or_else(|| ApiError::BadRequest(format!("No provided {key}!")))
}

/// `GET files/?op=get_by_key&key=…`, the one call that needs no credentials.
pub fn get_by_key(region: &Region, ctx: &Ctx) -> ApiResult {
    let key = mandatory(ctx, "key")?;
    region
        .files
        .iter()
        .find(|f| f.key == key)
        .map(|f| Reply::Bytes(f.content.clone()))
        .ok_or_else(|| ApiError::NotFound("No FileStorage matches the given query.".into()))
}

pub fn collection(region: &mut Region, ctx: &Ctx) -> ApiResult {
    let owner = ctx.actor()?.username.clone();
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => {
            let prefix = ctx.params.get("prefix");
            let list: Vec<Value> = region
                .files_of(&owner, prefix)
                .into_iter()
                .map(render::file)
                .collect();
            Ok(Reply::Json(Value::Array(list)))
        }
        ("GET", Some("get")) => {
            let filename = mandatory(ctx, "filename")?;
            region
                .file(&owner, filename)
                .map(|f| Reply::Bytes(f.content.clone()))
                .ok_or_else(|| ApiError::NotFound("File not found".into()))
        }
        ("GET", Some("get_by_key")) => get_by_key(region, ctx),
        ("POST", None) => {
            let filename = ctx
                .params
                .get_nonempty("filename")
                .ok_or_else(|| ApiError::BadRequest("Filename not supplied".into()))?
                .to_string();
            let content = match ctx.params.files() {
                [] => return Err(ApiError::BadRequest("File not supplied".into())),
                [(_, bytes)] => bytes.clone(),
                _ => {
                    return Err(ApiError::BadRequest(
                        "Exactly one file must be supplied".into(),
                    ))
                }
            };
            region.save_file(&owner, &filename, content);
            Ok(Reply::Created)
        }
        ("DELETE", None) => {
            let filename = mandatory(ctx, "filename")?.to_string();
            delete(region, &owner, &filename)
        }
        _ => Err(ctx.unrecognised()),
    }
}

pub fn instance(region: &mut Region, filename: &str, ctx: &Ctx) -> ApiResult {
    let owner = ctx.actor()?.username.clone();
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => {
            // MAAS answers a plain-text "Not Found" here, not its usual message.
            let f = region
                .file(&owner, filename)
                .ok_or_else(|| ApiError::NotFound("Not Found".into()))?;
            let mut v = render::file(f);
            v["content"] = json!(base64::engine::general_purpose::STANDARD.encode(&f.content));
            Ok(Reply::Json(v))
        }
        ("DELETE", None) => delete(region, &owner, filename),
        _ => Err(ctx.unrecognised()),
    }
}

fn delete(region: &mut Region, owner: &str, filename: &str) -> ApiResult {
    if region.delete_file(owner, filename) {
        Ok(Reply::NoContent)
    } else {
        Err(ApiError::NotFound(
            "No FileStorage matches the given query.".into(),
        ))
    }
}
