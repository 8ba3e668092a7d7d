//! The CLI's client: finds the running `vip serve` through the endpoint and
//! token files in the data directory, and turns problem documents back into
//! errors that carry the server's message and hint. Routes are given under
//! `/api/v1` (`client.get("/api/v1/tabs")`).

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::files::{ENDPOINT_FILE, TOKEN_FILE};
use crate::problem::ApiError;

/// A client of one running `vip serve`.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"***")
            .finish()
    }
}

fn not_running(data_dir: &Path, why: &str) -> ApiError {
    ApiError::unavailable(format!(
        "vip serve is not running for {} ({why}): start it with `vip serve`",
        data_dir.display()
    ))
}

impl Client {
    /// Connects to the `vip serve` of `data_dir`.
    pub fn from_data_dir(data_dir: &Path) -> Result<Client, ApiError> {
        let read = |name: &str| {
            std::fs::read_to_string(data_dir.join(name))
                .map(|s| s.trim().to_string())
                .map_err(|_| not_running(data_dir, &format!("no {name} file")))
        };
        let endpoint = read(ENDPOINT_FILE)?;
        let token = read(TOKEN_FILE)?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .new_agent();
        Ok(Client {
            base: format!("http://{endpoint}"),
            token,
            agent,
        })
    }

    fn finish<T: DeserializeOwned>(
        &self,
        reply: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ApiError> {
        let mut reply = reply.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed => ApiError::unavailable(format!(
                "vip serve does not answer at {} ({e}): start it with `vip serve`",
                self.base
            )),
            e => ApiError::internal(format!("control API: {e}")),
        })?;
        let status = reply.status().as_u16();
        let body: serde_json::Value = reply.body_mut().read_json().map_err(|e| {
            ApiError::internal(format!(
                "control API answered {status} with unreadable JSON: {e}"
            ))
        })?;
        if status >= 400 {
            return Err(ApiError::from_problem(status, &body));
        }
        serde_json::from_value(body)
            .map_err(|e| ApiError::internal(format!("control API reply: {e}")))
    }

    /// GET a route.
    pub fn get<T: DeserializeOwned>(&self, route: &str) -> Result<T, ApiError> {
        let reply = self
            .agent
            .get(format!("{}{route}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call();
        self.finish(reply)
    }

    /// POST a JSON body to a route.
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let reply = self
            .agent
            .post(format!("{}{route}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .send_json(body);
        self.finish(reply)
    }

    /// DELETE a route.
    pub fn delete<T: DeserializeOwned>(&self, route: &str) -> Result<T, ApiError> {
        let reply = self
            .agent
            .delete(format!("{}{route}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .call();
        self.finish(reply)
    }
}
