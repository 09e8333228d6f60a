//! Model backends pointed at a test server (the stand-in, or a real local server).

use operator::diagnose::backend::openai::{OpenAiBackend, OpenAiConfig};
use operator::diagnose::backend::RetryPolicy;

/// An OpenAI-compatible backend for `model` at `base_url` that never retries, so a test
/// sees each request it scripted exactly once.
pub fn openai_backend(base_url: String, model: &str) -> OpenAiBackend {
    OpenAiBackend::new(OpenAiConfig {
        base_url,
        model: model.into(),
        retry: RetryPolicy {
            max_retries: 0,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("an OpenAI-compatible backend")
}
