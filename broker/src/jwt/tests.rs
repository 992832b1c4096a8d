//! JWT attack table: every refused shape next to the accepted one.

use super::*;
use base64::Engine as _;
use serde_json::json;

struct Keys {
    private: String,
    public: String,
}

fn es256_keys() -> Keys {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("keygen");
    Keys {
        private: kp.serialize_pem(),
        public: kp.public_key_pem(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn sign(keys: &Keys, claims: serde_json::Value) -> String {
    let key = EncodingKey::from_ec_pem(keys.private.as_bytes()).expect("encoding key");
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).expect("sign")
}

fn valid_claims() -> serde_json::Value {
    json!({"sub": "host-a", "aud": "coold", "exp": now() + 600, "caps": ["builder"]})
}

fn without(mut v: serde_json::Value, field: &str) -> serde_json::Value {
    v.as_object_mut().expect("object").remove(field);
    v
}

fn with(mut v: serde_json::Value, field: &str, value: serde_json::Value) -> serde_json::Value {
    v[field] = value;
    v
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn jwt_attack_table() {
    let keys = es256_keys();
    let other = es256_keys();
    let verifier = JwtVerifier::from_pem(keys.public.as_bytes()).expect("verifier");

    let hs256_with_public_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(keys.public.as_bytes()),
    )
    .expect("hs256");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&valid_claims())
    );
    let none_upper = format!("{}.{}.", b64(&json!({"alg": "None"})), b64(&valid_claims()));

    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(&keys, with(valid_claims(), "exp", json!(now() - 3600))),
        ),
        ("wrong key", sign(&other, valid_claims())),
        ("HS256 with the public key as secret", hs256_with_public_key),
        ("alg none", none),
        ("alg None", none_upper),
        ("missing sub", sign(&keys, without(valid_claims(), "sub"))),
        (
            "empty sub",
            sign(&keys, with(valid_claims(), "sub", json!(""))),
        ),
        (
            "sub with a slash",
            sign(&keys, with(valid_claims(), "sub", json!("a/b"))),
        ),
        ("missing caps", sign(&keys, without(valid_claims(), "caps"))),
        ("missing exp", sign(&keys, without(valid_claims(), "exp"))),
        ("missing aud", sign(&keys, without(valid_claims(), "aud"))),
        (
            "wrong aud",
            sign(&keys, with(valid_claims(), "aud", json!("broker"))),
        ),
        ("garbage", "not.a.jwt".to_string()),
        ("empty", String::new()),
    ];
    for (name, token) in cases {
        assert!(
            verifier.verify(&token).is_err(),
            "{name}: token must be refused"
        );
    }

    let claims = verifier
        .verify(&sign(&keys, valid_claims()))
        .expect("valid token accepted");
    assert_eq!(claims.sub, "host-a");
    assert_eq!(claims.caps, vec!["builder".to_string()]);
}

#[test]
fn expiry_within_leeway_is_accepted() {
    let keys = es256_keys();
    let verifier = JwtVerifier::from_pem(keys.public.as_bytes()).expect("verifier");
    let token = sign(&keys, with(valid_claims(), "exp", json!(now() - 5)));
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn wrong_algorithm_names_the_expected_one() {
    let keys = es256_keys();
    let verifier = JwtVerifier::from_pem(keys.public.as_bytes()).expect("verifier");
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(b"s"),
    )
    .expect("hs256");
    let err = verifier.verify(&token).expect_err("refused");
    assert!(err.to_string().contains("ES256"), "{err}");
}

#[test]
fn minted_token_verifies_and_carries_caps() {
    let keys = es256_keys();
    let verifier = JwtVerifier::from_pem(keys.public.as_bytes()).expect("verifier");
    let token = mint_es256(
        keys.private.as_bytes(),
        "h1",
        &["builder".into()],
        Duration::from_secs(60),
    )
    .expect("mint");
    let claims = verifier.verify(&token).expect("verify");
    assert_eq!(claims.sub, "h1");
    assert!(claims.grants(&["builder".into()]).is_ok());
    assert_eq!(
        claims.grants(&["gpu".into()]),
        Err(JwtError::CapabilityNotGranted("gpu".into()))
    );
}

#[test]
fn private_key_is_not_a_verification_key() {
    let keys = es256_keys();
    assert!(JwtVerifier::from_pem(b"-----BEGIN NOTHING-----\n").is_err());
    // A public key that is neither EC nor RSA PEM is refused with a hint.
    let err = JwtVerifier::from_pem(b"garbage").expect_err("refused");
    assert!(err.contains("broker init"), "{err}");
    drop(keys);
}
