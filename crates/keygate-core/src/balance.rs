//! Provider balances: which providers publish a per-key balance or credit endpoint (one table,
//! checked against each provider's docs), what their answers mean, and when a balance counts
//! as low. Fetching happens with key tests and the background checker, never on the request
//! path.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// The shape of a provider's balance answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceShape {
    /// `{"is_available": bool, "balance_infos": [{"currency", "total_balance", "granted_balance",
    /// "topped_up_balance"}]}` (amounts are strings).
    DeepSeek,
    /// `{"code": 0, "data": {"available_balance", "voucher_balance", "cash_balance"}}`; CNY on
    /// api.moonshot.cn, USD on api.moonshot.ai.
    Moonshot,
    /// `{"data": {"limit", "limit_remaining", "limit_reset", "usage"}}`: the key's own credit
    /// limit (`null` when it has none; the account's credit needs a management key).
    OpenRouter,
    /// `{"code": 20000, "data": {"balance", "chargeBalance", "totalBalance"}}` (strings); CNY
    /// on api.siliconflow.cn, USD on api.siliconflow.com.
    SiliconFlow,
}

/// A provider's balance endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceEndpoint {
    /// The preset whose providers use it (matched by provider name).
    pub preset: &'static str,
    /// The API host it belongs to (matched in the provider's base URL, for providers named
    /// otherwise).
    pub host: &'static str,
    /// Appended to the provider's base URL once a trailing `/v1` is taken off.
    pub path: &'static str,
    pub shape: BalanceShape,
    pub docs_url: &'static str,
}

/// Every balance endpoint KeyGate knows. Providers not here (OpenAI, Anthropic, Gemini, Azure,
/// Qwen, Zhipu, Groq, Mistral…) publish none that an API key can read.
pub const BALANCE_ENDPOINTS: [BalanceEndpoint; 4] = [
    BalanceEndpoint {
        preset: "deepseek",
        host: "deepseek.com",
        path: "/user/balance",
        shape: BalanceShape::DeepSeek,
        docs_url: "https://api-docs.deepseek.com/api/get-user-balance",
    },
    BalanceEndpoint {
        preset: "moonshot",
        host: "moonshot.",
        path: "/v1/users/me/balance",
        shape: BalanceShape::Moonshot,
        docs_url: "https://platform.moonshot.cn/docs/api/balance",
    },
    BalanceEndpoint {
        preset: "openrouter",
        host: "openrouter.ai",
        path: "/v1/key",
        shape: BalanceShape::OpenRouter,
        docs_url: "https://openrouter.ai/docs/api/api-reference/api-keys/get-current-key",
    },
    BalanceEndpoint {
        preset: "siliconflow",
        host: "siliconflow.",
        path: "/v1/user/info",
        shape: BalanceShape::SiliconFlow,
        docs_url: "https://docs.siliconflow.cn/cn/api-reference/userinfo/get-user-info",
    },
];

/// What the balance view says for a provider without an endpoint.
pub const NOT_AVAILABLE: &str = "not available from this provider";

/// The balance endpoint of a provider named `name` at `base_url`, if it has one.
pub fn balance_endpoint(name: &str, base_url: &str) -> Option<&'static BalanceEndpoint> {
    BALANCE_ENDPOINTS
        .iter()
        .find(|e| e.preset.eq_ignore_ascii_case(name))
        .or_else(|| {
            let host = host_of(base_url);
            BALANCE_ENDPOINTS.iter().find(|e| host.contains(e.host))
        })
}

fn host_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    rest.split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The URL to ask: the base URL without a trailing `/v1`, then the endpoint's path.
pub fn balance_url(base_url: &str, endpoint: &BalanceEndpoint) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}{}", endpoint.path)
}

/// A balance as a provider told it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// `None` when the provider answered but keeps no limit for this key (OpenRouter).
    pub amount: Option<f64>,
    pub currency: String,
    /// The parts of the balance, or why there is no amount, in a sentence.
    pub note: String,
}

/// Reads a provider's balance answer; an answer of another shape is an error that says so.
pub fn read_balance(shape: BalanceShape, base_url: &str, body: &Value) -> Result<Reading, String> {
    let host = host_of(base_url);
    let region = |international: &str| {
        if host.ends_with(international) {
            "USD"
        } else {
            "CNY"
        }
    };
    let number = |v: &Value| -> Option<f64> {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n: &f64| n.is_finite())
    };
    let shown = |v: &Value| number(v).map_or_else(|| "?".to_string(), |n| format!("{n:.2}"));
    match shape {
        BalanceShape::DeepSeek => {
            let infos = body["balance_infos"]
                .as_array()
                .ok_or("the answer has no balance_infos")?;
            let info = infos
                .iter()
                .find(|i| i["currency"] == "USD")
                .or_else(|| infos.first())
                .ok_or("the answer lists no balance")?;
            let amount = number(&info["total_balance"]).ok_or("total_balance is not a number")?;
            let mut note = format!(
                "granted {}, topped up {}",
                shown(&info["granted_balance"]),
                shown(&info["topped_up_balance"])
            );
            if body["is_available"] == false {
                note.push_str("; DeepSeek says it cannot pay for API calls");
            }
            Ok(Reading {
                amount: Some(amount),
                currency: info["currency"].as_str().unwrap_or("CNY").to_string(),
                note,
            })
        }
        BalanceShape::Moonshot => {
            let data = &body["data"];
            let amount =
                number(&data["available_balance"]).ok_or("the answer has no available_balance")?;
            Ok(Reading {
                amount: Some(amount),
                currency: region("moonshot.ai").to_string(),
                note: format!(
                    "voucher {}, cash {}",
                    shown(&data["voucher_balance"]),
                    shown(&data["cash_balance"])
                ),
            })
        }
        BalanceShape::OpenRouter => {
            let data = body.get("data").ok_or("the answer has no data")?;
            let used = shown(&data["usage"]);
            match number(&data["limit_remaining"]) {
                Some(left) => Ok(Reading {
                    amount: Some(left),
                    currency: "USD".into(),
                    note: format!(
                        "key limit {}{}, used {used}",
                        shown(&data["limit"]),
                        data["limit_reset"]
                            .as_str()
                            .map(|r| format!(" (resets {r})"))
                            .unwrap_or_default()
                    ),
                }),
                None => Ok(Reading {
                    amount: None,
                    currency: "USD".into(),
                    note: format!(
                        "this key has no credit limit (used {used}); OpenRouter shows the account's credit only to a management key"
                    ),
                }),
            }
        }
        BalanceShape::SiliconFlow => {
            let data = &body["data"];
            let amount = number(&data["totalBalance"]).ok_or("the answer has no totalBalance")?;
            Ok(Reading {
                amount: Some(amount),
                currency: region("siliconflow.com").to_string(),
                note: format!(
                    "granted {}, topped up {}",
                    shown(&data["balance"]),
                    shown(&data["chargeBalance"])
                ),
            })
        }
    }
}

/// Roughly how many yuan a dollar buys, to compare a CNY balance with spend counted in USD
/// (days-of-spend thresholds only; an absolute threshold is in the balance's own currency).
pub const CNY_PER_USD: f64 = 7.1;

/// When a key's balance counts as low.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LowBalance {
    /// Below this amount, in the balance's currency.
    Below(f64),
    /// Fewer than this many days left at the last 7 days' average spend.
    DaysLeft(u32),
}

impl FromStr for LowBalance {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(days) = text.strip_suffix('d') {
            return match days.trim().parse::<u32>() {
                Ok(d) if (1..=365).contains(&d) => Ok(Self::DaysLeft(d)),
                _ => Err(format!(
                    "{text:?} is not a number of days from 1 to 365 (e.g. 3d)"
                )),
            };
        }
        match text.trim_start_matches('$').parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Self::Below(v)),
            _ => Err(format!(
                "{text:?} is neither an amount (e.g. 10) nor days of spend left (e.g. 3d)"
            )),
        }
    }
}

impl fmt::Display for LowBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Below(v) => write!(f, "{v}"),
            Self::DaysLeft(d) => write!(f, "{d}d"),
        }
    }
}

impl LowBalance {
    /// Whether `amount` (in `currency`) is low, given the key's spend over the last 7 days in
    /// micro-dollars. With no spend, days-of-spend never runs out.
    pub fn is_low(&self, amount: f64, currency: &str, spend_7d_micros: u64) -> bool {
        match *self {
            Self::Below(limit) => amount < limit,
            Self::DaysLeft(days) => {
                let per_day_usd = spend_7d_micros as f64 / 1e6 / 7.0;
                if per_day_usd <= 0.0 {
                    return amount <= 0.0;
                }
                let usd = if currency.eq_ignore_ascii_case("CNY") {
                    amount / CNY_PER_USD
                } else {
                    amount
                };
                usd / per_day_usd < f64::from(days)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn endpoints_are_found_by_preset_name_or_host_and_urls_follow_the_base() {
        let deepseek = balance_endpoint("deepseek", "https://api.deepseek.com/v1").expect("ds");
        assert_eq!(
            balance_url("https://api.deepseek.com/v1", deepseek),
            "https://api.deepseek.com/user/balance"
        );
        let kimi = balance_endpoint("my-kimi", "https://api.moonshot.ai/v1").expect("by host");
        assert_eq!(kimi.preset, "moonshot");
        assert_eq!(
            balance_url("https://api.moonshot.ai/v1/", kimi),
            "https://api.moonshot.ai/v1/users/me/balance"
        );
        let or = balance_endpoint("openrouter", "https://openrouter.ai/api/v1").expect("or");
        assert_eq!(
            balance_url("https://openrouter.ai/api/v1", or),
            "https://openrouter.ai/api/v1/key"
        );
        assert!(balance_endpoint("openai", "https://api.openai.com/v1").is_none());
        assert!(balance_endpoint("local", "http://127.0.0.1:9/v1").is_none());
    }

    #[test]
    fn each_documented_shape_reads_and_other_shapes_say_why() {
        let ds = json!({ "is_available": true, "balance_infos": [
            { "currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00" }
        ]});
        let r = read_balance(BalanceShape::DeepSeek, "https://api.deepseek.com", &ds).expect("ds");
        assert_eq!((r.amount, r.currency.as_str()), (Some(110.0), "CNY"));
        assert_eq!(r.note, "granted 10.00, topped up 100.00");

        let kimi = json!({ "code": 0, "data": { "available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001 }, "scode": "0x0", "status": true });
        let cn = read_balance(BalanceShape::Moonshot, "https://api.moonshot.cn/v1", &kimi);
        assert_eq!(cn.expect("cn").currency, "CNY");
        let ai = read_balance(BalanceShape::Moonshot, "https://api.moonshot.ai/v1", &kimi);
        assert_eq!(ai.expect("ai").amount, Some(49.58894));

        let or = json!({ "data": { "label": "sk-or-v1-au7...890", "limit": 100, "limit_remaining": 74.5, "limit_reset": "monthly", "usage": 25.5 } });
        let r = read_balance(
            BalanceShape::OpenRouter,
            "https://openrouter.ai/api/v1",
            &or,
        )
        .expect("or");
        assert_eq!(r.amount, Some(74.5));
        assert_eq!(r.note, "key limit 100.00 (resets monthly), used 25.50");
        let unlimited = json!({ "data": { "limit": null, "limit_remaining": null, "usage": 3 } });
        let r = read_balance(
            BalanceShape::OpenRouter,
            "https://openrouter.ai/api/v1",
            &unlimited,
        )
        .expect("unlimited");
        assert_eq!(r.amount, None);
        assert!(r.note.contains("no credit limit"), "{}", r.note);

        let sf = json!({ "code": 20000, "message": "OK", "status": true, "data": { "balance": "0.88", "chargeBalance": "88.00", "totalBalance": "88.88", "status": "normal" } });
        let r = read_balance(
            BalanceShape::SiliconFlow,
            "https://api.siliconflow.cn/v1",
            &sf,
        )
        .expect("sf");
        assert_eq!((r.amount, r.currency.as_str()), (Some(88.88), "CNY"));

        for shape in [
            BalanceShape::DeepSeek,
            BalanceShape::Moonshot,
            BalanceShape::OpenRouter,
            BalanceShape::SiliconFlow,
        ] {
            let err = read_balance(shape, "https://x", &json!({ "error": "nope" }));
            assert!(err.is_err(), "{shape:?}");
        }
    }

    #[test]
    fn low_balance_is_an_amount_or_days_of_spend_left() {
        assert_eq!("10".parse(), Ok(LowBalance::Below(10.0)));
        assert_eq!("$2.5".parse(), Ok(LowBalance::Below(2.5)));
        assert_eq!("3d".parse(), Ok(LowBalance::DaysLeft(3)));
        assert!("0d".parse::<LowBalance>().is_err());
        assert!("-1".parse::<LowBalance>().is_err());
        assert!("soon".parse::<LowBalance>().is_err());
        assert_eq!(LowBalance::DaysLeft(3).to_string(), "3d");

        assert!(LowBalance::Below(10.0).is_low(9.99, "USD", 0));
        assert!(!LowBalance::Below(10.0).is_low(10.0, "USD", 0));
        // $7 spent over 7 days is $1 a day: $2.50 lasts 2.5 days, under 3.
        let days = LowBalance::DaysLeft(3);
        assert!(days.is_low(2.5, "USD", 7_000_000));
        assert!(!days.is_low(3.5, "USD", 7_000_000));
        // ¥21.30 is about $3: three days at $1 a day.
        assert!(!days.is_low(21.4, "CNY", 7_000_000));
        assert!(days.is_low(14.2, "CNY", 7_000_000));
        // No spend: only an empty balance is low.
        assert!(!days.is_low(0.01, "USD", 0));
        assert!(days.is_low(0.0, "USD", 0));
    }
}
