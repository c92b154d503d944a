// A real SCIM 2.0 service provider (RFC 7643/7644) for partnerops's tests:
// SCIMMY parses and formats the protocol (filters, PatchOp, ListResponse,
// errors) and SCIMMY's Express routers serve it; this file only stores Users
// and Groups in memory and checks a bearer token. It is not partnerops code:
// the SCIM driver (internal/identity/scim) is tested against it as against
// any other service provider.
//
//   SCIM_SERVER_TOKEN=secret node server.js --port 0 [--no-user-groups] [--max-page-size N]
//
// It binds 127.0.0.1 only, on --port (0: a free port), and prints one line
//
//   SCIM server ready at http://127.0.0.1:PORT/scim/v2
//
// when it accepts requests; then one line per request (method, path, status;
// never a header). SIGINT/SIGTERM stop it.
//
// Behaviour a driver may rely on, as on common service providers:
//   - userName is unique without regard to case (409 uniqueness), and so is a
//     Group's displayName; filters compare userName, displayName,
//     emails.value and members.display without regard to case (caseExact
//     false in RFC 7643 §4), everything else exactly.
//   - a User carries the read-only `groups` attribute (direct memberships),
//     unless --no-user-groups, for drivers that must do without it.
//   - list responses hold at most --max-page-size resources (default 20, as
//     SCIMMY's default count), whatever `count` asks.
//   - a Group member must be an existing User (400 invalidValue); deleting a
//     User removes it from every Group.
//   - Users may carry the enterprise extension (organization, …) and the
//     extension partnerops documents for who signed in
//     (urn:ietf:params:scim:schemas:extension:partnerops:2.0:User, string
//     attributes issuer and subject, compared exactly), both announced in
//     /ResourceTypes/User.
//   - a PATCH remove of a member that is not there is 204 (SCIMMY's remove
//     with a filter that matches nothing is no change).
import {randomUUID, timingSafeEqual, createHash} from "node:crypto";
import {parseArgs} from "node:util";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const {values: args} = parseArgs({
    options: {
        port: {type: "string", default: "0"},
        "no-user-groups": {type: "boolean", default: false},
        "max-page-size": {type: "string", default: "20"},
    },
});
const port = Number(args.port);
const maxPageSize = Number(args["max-page-size"]);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${args.port}: not a port`);
if (!Number.isInteger(maxPageSize) || maxPageSize < 1) fail(`--max-page-size ${args["max-page-size"]}: not a positive integer`);
const token = process.env.SCIM_SERVER_TOKEN ?? "";
if (!token) fail("SCIM_SERVER_TOKEN is empty: set the bearer token clients must send");
const tokenDigest = createHash("sha256").update(token).digest();

function fail(msg) {
    console.error(`scim-server: ${msg}`);
    process.exit(2);
}

// The store: id -> resource as SCIMMY's schemas take it.
const users = new Map();
const groups = new Map();

const now = () => new Date().toISOString();
const lower = (s) => (typeof s === "string" ? s.toLowerCase() : s);

// Attribute paths compared without regard to case (RFC 7643 caseExact false).
const caseInsensitive = new Set(["username", "displayname", "emails.value", "members.display", "groups.display"]);
const comparators = new Set(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);

// folded returns a copy of value (a resource, or a parsed filter expression
// when isFilter) with the case-insensitive attributes lower-cased, so that
// SCIMMY's Filter.match, which compares exactly, compares them without case.
function folded(value, isFilter, path = "") {
    if (Array.isArray(value)) {
        // In a filter, [comparator, expected] or [not, comparator, expected],
        // or a list of such; in a resource, a multi-valued attribute.
        if (isFilter && value.length >= 2 && typeof value[value.length - 2] === "string" &&
            comparators.has(value[value.length - 2].toLowerCase())) {
            return caseInsensitive.has(path) ? [...value.slice(0, -1), lower(value[value.length - 1])] : [...value];
        }
        return value.map((v) => folded(v, isFilter, path));
    }
    if (value !== null && typeof value === "object" && !(value instanceof Date)) {
        const out = {};
        for (const [k, v] of Object.entries(value)) {
            out[k] = folded(v, isFilter, path ? `${path}.${k.toLowerCase()}` : k.toLowerCase());
        }
        return out;
    }
    return caseInsensitive.has(path) ? lower(value) : value;
}

// select returns the resources matching resource.filter (all when none).
function select(resource, all) {
    if (!resource.filter) return all;
    const filter = new SCIMMY.Types.Filter(JSON.parse(JSON.stringify(resource.filter)).map((e) => folded(e, true)));
    const keep = new Set(filter.match(all.map((r, i) => ({...folded(r, false), __index: i}))).map((r) => r.__index));
    return all.filter((r, i) => keep.has(i));
}

function byId(store, resource) {
    const found = store.get(resource.id);
    if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
    return found;
}

function groupsOf(userId) {
    const out = [];
    for (const g of groups.values()) {
        if (g.members.some((m) => m.value === userId)) {
            out.push({value: g.id, display: g.displayName, type: "direct", $ref: `Groups/${g.id}`});
        }
    }
    return out;
}

function userOut(u) {
    const out = structuredClone(u);
    if (!args["no-user-groups"]) {
        const gs = groupsOf(u.id);
        if (gs.length) out.groups = gs;
    }
    return out;
}

function groupOut(g) {
    const out = structuredClone(g);
    out.members = g.members.map((m) => ({value: m.value, display: users.get(m.value)?.userName, type: "User", $ref: `Users/${m.value}`}));
    if (!out.members.length) delete out.members;
    return out;
}

// plain turns a SCIMMY schema instance into a plain object without the
// attributes the server owns.
function plain(instance) {
    const out = JSON.parse(JSON.stringify(instance));
    delete out.schemas;
    delete out.meta;
    delete out.id;
    delete out.groups;
    return out;
}

// Users may carry the enterprise extension (RFC 7643 §4.3), which
// /ResourceTypes/User announces, e.g. for urn:…:enterprise:2.0:User.organization,
// and the partnerops extension (as an administrator declares it on a
// service provider with custom schemas).
const PartnerOpsUser = new SCIMMY.Types.SchemaDefinition("PartnerOpsUser",
    "urn:ietf:params:scim:schemas:extension:partnerops:2.0:User",
    "Who a partner signed in as at the identity provider before accepting an invitation", [
        new SCIMMY.Types.Attribute("string", "issuer", {caseExact: true, description: "The ID token's iss"}),
        new SCIMMY.Types.Attribute("string", "subject", {caseExact: true, description: "The ID token's sub"}),
    ]);
SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false).extend(PartnerOpsUser, false))
    .egress((resource) => {
        if (resource.id) return userOut(byId(users, resource));
        return select(resource, [...users.values()].map(userOut));
    })
    .ingress((resource, instance) => {
        const data = plain(instance);
        const taken = [...users.values()].find((u) => lower(u.userName) === lower(data.userName) && u.id !== resource.id);
        if (taken) throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is already taken`);
        const t = now();
        if (resource.id) {
            const old = byId(users, resource);
            const u = {...data, id: old.id, meta: {...old.meta, lastModified: t}};
            users.set(u.id, u);
            return userOut(u);
        }
        const u = {...data, id: randomUUID(), meta: {created: t, lastModified: t}};
        users.set(u.id, u);
        return userOut(u);
    })
    .degress((resource) => {
        byId(users, resource);
        users.delete(resource.id);
        for (const g of groups.values()) g.members = g.members.filter((m) => m.value !== resource.id);
    });

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .egress((resource) => {
        if (resource.id) return groupOut(byId(groups, resource));
        return select(resource, [...groups.values()].map(groupOut));
    })
    .ingress((resource, instance) => {
        const data = plain(instance);
        const taken = [...groups.values()].find((g) => lower(g.displayName) === lower(data.displayName) && g.id !== resource.id);
        if (taken) throw new SCIMMY.Types.Error(409, "uniqueness", `displayName ${data.displayName} is already taken`);
        const members = [];
        for (const m of data.members ?? []) {
            if (!users.has(m.value)) throw new SCIMMY.Types.Error(400, "invalidValue", `member ${m.value} is not a User`);
            if (!members.some((x) => x.value === m.value)) members.push({value: m.value});
        }
        const t = now();
        const g = {...data, members};
        if (resource.id) {
            const old = byId(groups, resource);
            Object.assign(g, {id: old.id, meta: {...old.meta, lastModified: t}});
        } else {
            Object.assign(g, {id: randomUUID(), meta: {created: t, lastModified: t}});
        }
        groups.set(g.id, g);
        return groupOut(g);
    })
    .degress((resource) => {
        byId(groups, resource);
        groups.delete(resource.id);
    });

const app = express();
app.disable("x-powered-by");

// Express 5 computes req.query anew at each access, so the routers'
// conversion of startIndex and count to numbers would be lost: make it a
// plain property, and cap the count of a listing at --max-page-size.
app.use((req, res, next) => {
    const query = {...req.query};
    if (req.method === "GET" && /^\/scim\/v2\/(Users|Groups)\/?$/.test(req.path)) {
        const count = Number(query.count);
        query.count = String(Number.isInteger(count) && count >= 0 ? Math.min(count, maxPageSize) : maxPageSize);
    }
    Object.defineProperty(req, "query", {value: query, writable: true, configurable: true, enumerable: true});
    next();
});

// One log line per request: method, path (no query string: it may hold an
// email address, harmless here but a habit to keep), status.
app.use((req, res, next) => {
    res.on("finish", () => console.log(`${req.method} ${req.originalUrl.split("?")[0]} ${res.statusCode}`));
    next();
});

app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (req) => {
        const m = /^Bearer (.+)$/.exec(req.header("Authorization") ?? "");
        if (!m) throw new Error("Missing bearer token");
        const digest = createHash("sha256").update(m[1]).digest();
        if (!timingSafeEqual(digest, tokenDigest)) throw new Error("Invalid bearer token");
        return "partnerops-test";
    },
}));

const server = app.listen(port, "127.0.0.1", () => {
    console.log(`SCIM server ready at http://127.0.0.1:${server.address().port}/scim/v2`);
});
server.on("error", (err) => fail(err.message));
for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
    });
}
