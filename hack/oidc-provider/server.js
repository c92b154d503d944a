// A real OpenID Provider for partnerops's tests and `make dev`: the npm
// package oidc-provider (an OpenID Certified implementation) does the
// protocol (discovery, JWKS, the Authorization Code flow with PKCE, the
// token endpoint, ID tokens); this file only holds its users and clients in
// memory and serves a minimal login form. It is not partnerops code: the
// acceptance page's sign-in (internal/signin) is tested against it as
// against any other provider.
//
//   OIDC_PROVIDER_CONFIG='{"clients":[…],"users":[…]}' node server.js --port 0
//
// OIDC_PROVIDER_CONFIG (environment, never argv: it holds passwords) is
//
//   {"clients": [{"client_id": "…", "client_secret": "…" (optional: a
//                 public client), "redirect_uris": ["…"]}],
//    "users":   [{"sub": "…", "email": "…", "email_verified": true,
//                 "password": "…"}]}
//
// It binds 127.0.0.1 only, on --port (0: a free port); its issuer is
// http://127.0.0.1:PORT. It prints one line
//
//   OIDC provider ready at http://127.0.0.1:PORT
//
// when it accepts requests; then one line per request (method, path,
// status; never a query or a header). SIGINT/SIGTERM stop it.
//
// The login form (GET /interaction/<uid>) asks for an email address and a
// password (inputs named email and password, a button "Sign in"); a wrong
// pair shows the form again with "Wrong email or password". Consent is
// implied: every client is first-party here. ID tokens carry email and
// email_verified when the email scope is asked for.
import {generateKeyPairSync, randomBytes} from "node:crypto";
import {createServer} from "node:http";
import {parseArgs} from "node:util";
import Provider from "oidc-provider";

const {values: args} = parseArgs({options: {port: {type: "string", default: "0"}}});
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${args.port}: not a port`);
let cfg;
try {
    cfg = JSON.parse(process.env.OIDC_PROVIDER_CONFIG ?? "");
} catch (e) {
    fail(`OIDC_PROVIDER_CONFIG is not JSON: ${e.message}`);
}
const users = new Map((cfg.users ?? []).map((u) => [u.sub, u]));
const clients = (cfg.clients ?? []).map((c) => ({
    client_id: c.client_id,
    ...(c.client_secret ? {client_secret: c.client_secret} : {token_endpoint_auth_method: "none"}),
    redirect_uris: c.redirect_uris,
    grant_types: ["authorization_code"],
    response_types: ["code"],
}));
if (clients.length === 0) fail("OIDC_PROVIDER_CONFIG has no client");

function fail(msg) {
    console.error(`oidc-provider: ${msg}`);
    process.exit(2);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(res, uid, message, email = "") {
    res.statusCode = message ? 401 : 200;
    res.setHeader("Content-Type", "text/html; charset=utf-8");
    res.setHeader("Cache-Control", "no-store");
    res.end(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main>
<h1>Sign in</h1>
${message ? `<p role="alert" id="error">${escape(message)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email <input type="email" name="email" id="email" value="${escape(email)}" autocomplete="username" required></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label>
<button type="submit" id="submit">Sign in</button>
</form>
</main></body></html>
`);
}

async function readForm(req) {
    let body = "";
    for await (const chunk of req) {
        body += chunk;
        if (body.length > 8192) throw new Error("form too large");
    }
    return new URLSearchParams(body);
}

// interaction serves the login form and its answer.
async function interaction(provider, req, res, uid, login) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error("interaction does not match");
    if (details.prompt.name !== "login") {
        // Consent: first-party clients, granted what they ask.
        const grant = details.grantId ? await provider.Grant.find(details.grantId)
            : new provider.Grant({accountId: details.session.accountId, clientId: details.params.client_id});
        if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(" "));
        if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, {consent: {grantId}}, {mergeWithLastSubmission: true});
    }
    if (!login) {
        if (req.method !== "GET") throw new Error("GET the form");
        return loginPage(res, uid, "");
    }
    if (req.method !== "POST") throw new Error("POST the form");
    const form = await readForm(req);
    const email = (form.get("email") ?? "").trim().toLowerCase();
    const user = [...users.values()].find((u) => u.email.toLowerCase() === email && u.password === form.get("password"));
    if (!user) return loginPage(res, uid, "Wrong email or password", form.get("email") ?? "");
    return provider.interactionFinished(req, res, {login: {accountId: user.sub}}, {mergeWithLastSubmission: false});
}

const {privateKey} = generateKeyPairSync("rsa", {modulusLength: 2048});
const server = createServer();
server.listen(port, "127.0.0.1", () => {
    const issuer = `http://127.0.0.1:${server.address().port}`;
    const provider = new Provider(issuer, {
        clients,
        jwks: {keys: [{...privateKey.export({format: "jwk"}), kid: "k1", use: "sig", alg: "RS256"}]},
        cookies: {keys: [randomBytes(32).toString("hex")]},
        claims: {openid: ["sub"], email: ["email", "email_verified"]},
        // ID tokens carry the scopes' claims (as most providers' do), not
        // only the userinfo endpoint.
        conformIdTokenClaims: false,
        features: {devInteractions: {enabled: false}},
        interactions: {url: (ctx, i) => `/interaction/${i.uid}`},
        pkce: {required: () => true},
        async findAccount(ctx, sub) {
            const u = users.get(sub);
            if (!u) return undefined;
            return {
                accountId: sub,
                async claims() {
                    return {sub, email: u.email, email_verified: u.email_verified !== false};
                },
            };
        },
        // First-party clients: consent is implied.
        async loadExistingGrant(ctx) {
            const grant = new ctx.oidc.provider.Grant({clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId});
            grant.addOIDCScope(ctx.oidc.params.scope);
            await grant.save();
            return grant;
        },
        renderError(ctx, out) {
            ctx.type = "html";
            ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><h1>Error</h1><p id="error">${escape(out.error)}: ${escape(out.error_description ?? "")}</p></body></html>`;
        },
    });
    const callback = provider.callback();
    server.on("request", async (req, res) => {
        const path = new URL(req.url, issuer).pathname;
        res.on("finish", () => console.log(`${req.method} ${path} ${res.statusCode}`));
        const m = path.match(/^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/);
        if (!m) return callback(req, res);
        try {
            await interaction(provider, req, res, m[1], Boolean(m[2]));
        } catch (e) {
            if (!res.headersSent) {
                res.statusCode = 400;
                res.setHeader("Content-Type", "text/plain; charset=utf-8");
            }
            res.end(`interaction failed: ${e.message}\n`);
        }
    });
    console.log(`OIDC provider ready at ${issuer}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
