//! Stream frames → the verb table → answers (DESIGN.md decision 1): a
//! verb frame is routed with the same [`Verb::route`], run by the same
//! [`dispatch`] and recorded by the same epilogue ([`record`]) as a REST
//! request, so both transports give identical answers. Build and cancel
//! frames are the one other door: they go to the build driver, which
//! answers when the build ends.

use std::time::Instant;

use bytes::Bytes;
use coolify_proto::v1::{server_msg, Response, ServerMsg, VerbFrame};
use http::{Method, StatusCode};

use crate::api::AgentContext;
use crate::api::{dispatch, record, ApiError, Input, Reply, ReplyBody, Verb, VerbRequest};

/// Runs one frame and returns the answer to send back, or `None` for
/// build frames: a build answers when it ends (through the build driver's
/// outbox), and a cancel is answered by that build's 409.
pub async fn answer(ctx: &AgentContext, msg: ServerMsg) -> Option<Response> {
    let id = msg.request_id;
    Some(match msg.msg {
        Some(server_msg::Msg::Verb(frame)) => {
            let started = Instant::now();
            let VerbFrame {
                method,
                path,
                query,
                body,
            } = frame;
            let (name, result) = run_verb(ctx, &method, &path, query, body).await;
            let resp = to_response(id, result);
            let status = StatusCode::from_u16(u16::try_from(resp.status).unwrap_or(500))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            record(
                ctx,
                "broker",
                name,
                &method,
                &path,
                status,
                started.elapsed(),
            );
            resp
        }
        Some(server_msg::Msg::Build(b)) => match &ctx.builds {
            Some(builds) => {
                builds.submit(id, b.spec);
                return None;
            }
            None => to_response(
                id,
                Err(ApiError::NotImplemented(
                    "this host does not run builds (COOLD_BUILDER_ENABLED is off)".into(),
                )),
            ),
        },
        Some(server_msg::Msg::Cancel(_)) => {
            if let Some(builds) = &ctx.builds {
                builds.cancel(&id);
            }
            return None;
        }
        None => to_response(
            id,
            Err(ApiError::BadRequest {
                field: "msg".into(),
                message: "msg: empty frame".into(),
            }),
        ),
    })
}

async fn run_verb(
    ctx: &AgentContext,
    method: &str,
    path: &str,
    query: String,
    body: Vec<u8>,
) -> (&'static str, Result<Reply, ApiError>) {
    let method_name = method;
    let method = match Method::from_bytes(method_name.as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            return (
                "unrouted",
                Err(ApiError::BadRequest {
                    field: "method".into(),
                    message: format!("method: {method_name:?} is not an HTTP method"),
                }),
            )
        }
    };
    let verb = match Verb::route(&method, path) {
        Ok(v) => v,
        Err(e) => return ("unrouted", Err(e.into())),
    };
    let name = verb.name();
    let input = Input {
        query: Some(query).filter(|q| !q.is_empty()),
        body: Bytes::from(body),
    };
    (name, dispatch(ctx, VerbRequest { verb, input }).await)
}

/// Maps a verb outcome to a Response frame: the same status and JSON body
/// the REST transport would send.
pub fn to_response(request_id: String, result: Result<Reply, ApiError>) -> Response {
    let result = result.and_then(|reply| match reply.body {
        ReplyBody::Json(v) => Ok((reply.status, Vec::from(v))),
        ReplyBody::Empty => Ok((reply.status, Vec::new())),
        // A Response frame is one message; a stream (logs with follow,
        // streamed exec) may never end. Until the proto has framed streams,
        // say so instead of buffering without bound.
        ReplyBody::Stream(_) => Err(ApiError::NotImplemented(
            "streamed answers (logs follow=true, exec stream=true) are not carried over the broker stream yet; use the agent REST API or ask without streaming".into(),
        )),
    });
    match result {
        Ok((status, body)) => Response {
            request_id,
            status: u32::from(status.as_u16()),
            body: if status == StatusCode::NO_CONTENT {
                Vec::new()
            } else {
                body
            },
            error: String::new(),
        },
        Err(e) => Response {
            request_id,
            status: u32::from(e.status().as_u16()),
            body: serde_json::to_vec(&e.body()).unwrap_or_default(),
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_rest_status_and_body() {
        let r = to_response(
            "r1".into(),
            Err(ApiError::Route(crate::api::RouteError::NotFound {
                path: "/api/v1/nope".into(),
            })),
        );
        assert_eq!(r.status, 404);
        assert_eq!(r.request_id, "r1");
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["error"], "no such verb: /api/v1/nope");
    }

    #[test]
    fn no_content_has_an_empty_body() {
        let r = to_response("r".into(), Reply::no_content());
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
    }
}
