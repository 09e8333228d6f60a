//! `--backend`, `--model`, `--base-url`: which model diagnoses, shared by `run`,
//! `diagnose` and `eval`.
//!
//! One flag set so that the same diagnosis can be pointed at Claude, at any
//! OpenAI-compatible server (the local llama.cpp of `make llm`, Ollama, vLLM) or at the
//! offline rules engine without touching anything else. Defaults keep the old behaviour:
//! Claude when a key is set, the rules engine otherwise.

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::diagnose::backend::openai::AnswerMode;
use crate::diagnose::backend::{BackendChoice, BackendSettings};

/// The backend, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendFlag {
    /// Claude when ANTHROPIC_API_KEY (or its file) is set, else the rules engine.
    #[default]
    Auto,
    /// Anthropic's Messages API.
    Claude,
    /// Any OpenAI-compatible chat-completions server.
    Openai,
    /// The offline rules engine.
    Rules,
}

/// Backend selection flags: which backend, and how its model is called.
#[derive(Debug, Clone, Args, Default)]
pub struct BackendArgs {
    /// Which backend diagnoses.
    #[arg(long, value_enum, default_value_t = BackendFlag::Auto, env = "OPERATOR_BACKEND")]
    pub backend: BackendFlag,
    /// How the model is called.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// How a model backend is called: the model, its server, its prompt and answer, and the
/// investigation it may run. `run`, `diagnose` and `eval` take the same set, so that the
/// eval measures a model the way `operator run` calls it.
#[derive(Debug, Clone, Args, Default)]
pub struct ModelArgs {
    /// Model id (Claude: e.g. claude-sonnet-4-5; OpenAI-compatible: the server's model
    /// name, e.g. the alias in target/llm/model after `make llm`).
    #[arg(long, env = "OPERATOR_MODEL")]
    pub model: Option<String>,
    /// Base URL of the model API without /v1 (OpenAI-compatible: required, e.g. the
    /// address in target/llm/address; Claude: a gateway).
    #[arg(long, env = "OPERATOR_BASE_URL")]
    pub base_url: Option<String>,
    /// Sampling temperature for an OpenAI-compatible server (default 0: the most likely
    /// answer, the same for the same prompt; a diagnosis is not creative writing).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Per-attempt timeout of a model call, in seconds.
    #[arg(long)]
    pub model_timeout_secs: Option<u64>,
    /// Turns of read-only tool calls (PD, Prometheus, container logs and state, past
    /// incidents) a model backend may take before it answers; 0: one request, no tools.
    /// At most 30.
    #[arg(long, default_value_t = crate::diagnose::investigate::budget::DEFAULT_STEPS,
          value_parser = clap::value_parser!(u32).range(0..=30))]
    pub investigate_steps: u32,
    /// Bytes of one tool result shown to the model (longer results are cut, saying so).
    #[arg(long, default_value_t = crate::diagnose::investigate::budget::DEFAULT_OUTPUT_BYTES)]
    pub tool_output_bytes: usize,
    /// Estimated input tokens one investigation may send over all its turns; when the
    /// next turn would exceed it, the model is asked for its final answer.
    #[arg(long, default_value_t = crate::diagnose::investigate::budget::DEFAULT_INPUT_TOKENS)]
    pub investigation_tokens: usize,
    /// Prompt budget of an OpenAI-compatible server, in estimated tokens, system message
    /// included (default 3072: a small model on a CPU reads ~100 tokens/s; raise it for a
    /// big model on a GPU). The least relevant context is cut first, and the cuts are
    /// recorded on the diagnosis.
    #[arg(long, env = "OPERATOR_CONTEXT_TOKENS")]
    pub context_tokens: Option<usize>,
    /// The answer an OpenAI-compatible model is asked for: compact (cause, confidence,
    /// cited fact ids, one bounded sentence and the action: ~100 generated tokens), full
    /// (hypotheses, options, free text: 500+ tokens), or auto (compact when
    /// --context-tokens is at most 4096).
    #[arg(long, value_enum, default_value_t = AnswerFlag::Auto, env = "OPERATOR_ANSWER")]
    pub answer: AnswerFlag,
}

/// `--answer`, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AnswerFlag {
    /// Compact for a small prompt budget, full otherwise.
    #[default]
    Auto,
    /// Always the compact answer.
    Compact,
    /// Always the full answer.
    Full,
}

impl BackendArgs {
    /// The settings these flags select, on top of the environment's.
    pub(crate) fn settings(&self) -> Result<BackendSettings, String> {
        let mut s = BackendSettings::from_env();
        s.choice = match self.backend {
            BackendFlag::Auto => BackendChoice::Auto,
            BackendFlag::Claude => BackendChoice::Claude,
            BackendFlag::Openai => BackendChoice::OpenAi,
            BackendFlag::Rules => BackendChoice::Rules,
        };
        self.model.apply(&mut s)?;
        Ok(s)
    }
}

impl ModelArgs {
    /// Applies these flags to `s` for the backend `s.choice` names.
    ///
    /// # Errors
    ///
    /// An OpenAI-compatible backend without `--base-url`.
    pub fn apply(&self, s: &mut BackendSettings) -> Result<(), String> {
        let timeout = self.model_timeout_secs.map(Duration::from_secs);
        s.investigation = (self.investigate_steps > 0).then(|| {
            crate::diagnose::investigate::Budget {
                max_steps: self.investigate_steps,
                max_output_bytes: self.tool_output_bytes,
                max_input_tokens: self.investigation_tokens,
                ..Default::default()
            }
            .clamped()
        });
        match s.choice {
            BackendChoice::OpenAi => {
                s.openai.base_url = self
                    .base_url
                    .as_deref()
                    .ok_or(
                        "--backend openai needs --base-url (e.g. $(cat target/llm/address) after `make llm`)",
                    )?
                    .trim_end_matches('/')
                    .to_string();
                if let Some(m) = &self.model {
                    s.openai.model = m.clone();
                }
                s.openai.temperature = Some(self.temperature.unwrap_or(0.0));
                if let Some(n) = self.context_tokens {
                    s.openai.context_tokens = n;
                }
                s.openai.answer = match self.answer {
                    AnswerFlag::Auto => AnswerMode::Auto,
                    AnswerFlag::Compact => AnswerMode::Compact,
                    AnswerFlag::Full => AnswerMode::Full,
                };
                if let Some(t) = timeout {
                    s.openai.timeout = t;
                }
            }
            BackendChoice::Claude | BackendChoice::Auto => {
                if let Some(m) = &self.model {
                    s.claude.model = m.clone();
                }
                if let Some(u) = &self.base_url {
                    s.claude.base_url = u.trim_end_matches('/').to_string();
                }
                if let Some(t) = timeout {
                    s.claude.timeout = t;
                }
            }
            BackendChoice::Rules => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openai_backend_needs_a_base_url_and_takes_the_model() {
        let mut a = BackendArgs {
            backend: BackendFlag::Openai,
            model: ModelArgs {
                model: Some("qwen2.5-coder-0.5b-instruct".into()),
                ..Default::default()
            },
        };
        assert!(a.settings().unwrap_err().contains("--base-url"));
        a.model.base_url = Some("http://127.0.0.1:8080/".into());
        let s = a.settings().unwrap();
        assert_eq!(s.choice, BackendChoice::OpenAi);
        assert_eq!(s.openai.base_url, "http://127.0.0.1:8080");
        assert_eq!(s.openai.model, "qwen2.5-coder-0.5b-instruct");
        assert_eq!(
            s.openai.temperature,
            Some(0.0),
            "greedy unless told otherwise"
        );
        assert_eq!(
            s.openai.context_tokens,
            crate::diagnose::context::LOCAL_TOKEN_BUDGET
        );
        a.model.context_tokens = Some(6000);
        assert_eq!(a.settings().unwrap().openai.context_tokens, 6000);
    }

    #[test]
    fn the_compact_answer_follows_the_budget_unless_the_flag_says_otherwise() {
        let mut a = BackendArgs {
            backend: BackendFlag::Openai,
            model: ModelArgs {
                base_url: Some("http://127.0.0.1:8080".into()),
                ..Default::default()
            },
        };
        assert!(a.settings().unwrap().openai.compact());
        a.model.context_tokens = Some(16_000);
        assert!(!a.settings().unwrap().openai.compact());
        a.model.answer = AnswerFlag::Compact;
        assert!(a.settings().unwrap().openai.compact());
        a.model.context_tokens = None;
        a.model.answer = AnswerFlag::Full;
        assert!(!a.settings().unwrap().openai.compact());
    }

    #[test]
    fn the_investigation_budget_comes_from_the_flags_and_zero_steps_turn_it_off() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            b: BackendArgs,
        }
        let t = T::parse_from(["t", "--backend", "rules"]);
        let budget = t.b.settings().unwrap().investigation.unwrap();
        assert_eq!(budget.max_steps, 12);
        let t = T::parse_from([
            "t",
            "--investigate-steps",
            "30",
            "--tool-output-bytes",
            "2000",
        ]);
        let budget = t.b.settings().unwrap().investigation.unwrap();
        assert_eq!((budget.max_steps, budget.max_output_bytes), (30, 2000));
        assert!(T::try_parse_from(["t", "--investigate-steps", "31"]).is_err());
        let t = T::parse_from(["t", "--investigate-steps", "0"]);
        assert!(t.b.settings().unwrap().investigation.is_none());
    }
}
