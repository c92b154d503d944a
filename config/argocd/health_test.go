// Package argocd tests the Argo CD health checks of config/argocd: each
// <group>/<kind>/health.lua is run over its testdata objects the way Argo
// CD runs a health check from argocd-cm, and compared with the statuses its
// health_test.yaml expects (the layout of Argo CD's own
// resource_customizations). The tests hold:
//
//   - every case of both health_test.yaml files through gopher-lua as Argo
//     CD runs a check from argocd-cm: a Lua state without the standard
//     libraries, then the base, package and table libraries, a one-second
//     deadline, the object as the global obj (decoded as Argo CD decodes
//     live objects), and the returned table read as status and message; the
//     status must be one Argo CD accepts;
//   - the same cases through a copy of each script with a probe at every
//     block and every return: each probe must run in some case (both
//     scripts are covered completely), the scripts may read only obj,
//     ipairs, pairs, table and a few base functions (no string, math, os,
//     io, require), and may set no global;
//   - that the sandbox is as strict as Argo CD's (scripts using string.*, a
//     string method, math, io or os, or looping forever, fail);
//   - that every testdata object decodes strictly into the API types, with
//     condition types and reasons declared in api/v1alpha1/conditions.go
//     (files named unknown-* stand for a newer partnerops on purpose);
//   - that argocd-cm-patch.yaml is exactly what the health.lua files
//     generate (`go test ./config/argocd -update` rewrites it), and that
//     YAML readers get each script back byte for byte;
//   - the installation as docs/argocd.md shows it: `kubectl kustomize` of an
//     Argo CD kustomization with the patch (target and path forms), and
//     `kubectl patch` of an existing argocd-cm on a real API server,
//     keeping its other keys;
//   - the defaults: objects applied without invitationTTL, deletionPolicy
//     or locale get them, and `kubectl diff` (which, like Argo CD's
//     Server-Side Diff, compares the live object with a server-side dry
//     run) then finds no difference, after a client-side `kubectl apply`
//     and after `kubectl apply --server-side`.
//
// Argo CD itself is not run.
package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/partnerops/partnerops/api/v1alpha1"
)

// group is the API group of both kinds; each has a directory under it.
const group = "partners.partnerops.dev"

// kinds are the kinds that must have a health check.
var kinds = []string{"PartnerAccount", "PartnerInvitation"}

// healthTests is a health_test.yaml, in the format of Argo CD's
// resource_customizations/<group>/<kind>/health_test.yaml.
type healthTests struct {
	Tests []healthTest `json:"tests"`
}

type healthTest struct {
	InputPath    string       `json:"inputPath"`
	HealthStatus healthStatus `json:"healthStatus"`
}

// healthStatus is what a health check returns (gitops-engine's
// health.HealthStatus).
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// validStatuses are the health codes Argo CD accepts from a Lua check;
// anything else becomes Unknown, "Lua returned an invalid health status".
var validStatuses = []string{"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

// check is one kind's health check with its tests.
type check struct {
	kind   string
	dir    string
	script string
	tests  []healthTest
}

func loadCheck(t *testing.T, kind string) check {
	t.Helper()
	dir := filepath.Join(group, kind)
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests healthTests
	if err := yaml.UnmarshalStrict(raw, &tests); err != nil {
		t.Fatalf("%s/health_test.yaml: %v", dir, err)
	}
	return check{kind: kind, dir: dir, script: string(script), tests: tests.Tests}
}

// loadObject reads a testdata object as Argo CD holds a live object: an
// unstructured object decoded from JSON (integers as int64).
func loadObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return u
}

// TestLayout checks that config/argocd holds exactly one check per kind,
// in Argo CD's layout, and that every testdata object is used by a test.
func TestLayout(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("*", "*", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dirs {
		got = append(got, filepath.Dir(d))
	}
	var want []string
	for _, k := range kinds {
		want = append(want, filepath.Join(group, k))
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("health checks in %v, want one in each of %v", got, want)
	}
	total := 0
	for _, kind := range kinds {
		c := loadCheck(t, kind)
		files, err := filepath.Glob(filepath.Join(c.dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, tc := range c.tests {
			if used[tc.InputPath] {
				t.Errorf("%s: %s is tested twice", c.dir, tc.InputPath)
			}
			used[tc.InputPath] = true
			if !strings.HasPrefix(tc.InputPath, "testdata/") {
				t.Errorf("%s: inputPath %s is not under testdata/", c.dir, tc.InputPath)
			}
		}
		for _, f := range files {
			rel := filepath.ToSlash(strings.TrimPrefix(f, c.dir+string(filepath.Separator)))
			if !used[rel] {
				t.Errorf("%s: %s is in no test of health_test.yaml", c.dir, rel)
			}
		}
		total += len(files)
	}
	if total < 15 {
		t.Errorf("%d testdata objects, want at least 15", total)
	}
}

// TestHealth runs every case of every health_test.yaml exactly the way Argo
// CD runs a health check configured in argocd-cm.
func TestHealth(t *testing.T) {
	for _, kind := range kinds {
		c := loadCheck(t, kind)
		for _, tc := range c.tests {
			t.Run(kind+"/"+tc.InputPath, func(t *testing.T) {
				obj := loadObject(t, filepath.Join(c.dir, tc.InputPath))
				got, err := runHealth(obj, c.script, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.HealthStatus {
					t.Errorf("got\n  status:  %s\n  message: %s\nwant\n  status:  %s\n  message: %s",
						got.Status, got.Message, tc.HealthStatus.Status, tc.HealthStatus.Message)
				}
			})
		}
	}
}

// TestCoverageAndSandbox runs every case again through an instrumented
// copy of each script, with its global environment watched: every block
// and every return of the script must run in some case, and the script
// may read only the globals listed here (what Argo CD's sandbox offers
// without the standard libraries: no string, math, os or io) and define
// none.
func TestCoverageAndSandbox(t *testing.T) {
	allowed := map[string]bool{"obj": true, "ipairs": true, "pairs": true, "table": true,
		"tostring": true, "tonumber": true, "type": true, "next": true, "select": true}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			c := loadCheck(t, kind)
			if err := checkStyle(c.script); err != nil {
				t.Fatal(err)
			}
			instrumented, probes := instrument(c.script)
			hit := map[int]bool{}
			reads, writes := map[string]bool{}, map[string]bool{}
			for _, tc := range c.tests {
				obj := loadObject(t, filepath.Join(c.dir, tc.InputPath))
				w := &watch{hit: hit, reads: reads, writes: writes}
				if _, err := runHealth(obj, instrumented, w); err != nil {
					t.Fatalf("%s: %v", tc.InputPath, err)
				}
			}
			var missed []string
			for n, line := range probes {
				if !hit[n] {
					missed = append(missed, fmt.Sprintf("line %d: %s", line, strings.TrimSpace(strings.Split(c.script, "\n")[line-1])))
				}
			}
			if len(missed) > 0 {
				t.Errorf("no testdata object runs:\n  %s", strings.Join(missed, "\n  "))
			}
			for name := range reads {
				if !allowed[name] {
					t.Errorf("the script reads the global %q, which Argo CD's sandbox does not offer to a check without useOpenLibs (or which a health check should not use)", name)
				}
			}
			for name := range writes {
				t.Errorf("the script sets the global %q: declare it local", name)
			}
			t.Logf("%d probes over %d cases; globals read: %v", len(probes), len(c.tests), keys(reads))
		})
	}
}

// TestSandboxLikeArgoCD checks that runHealth offers what Argo CD's does
// and no more: a script using the string, math, io or os libraries, or a
// string method, fails here as it fails in Argo CD.
func TestSandboxLikeArgoCD(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"kind": "X", "spec": map[string]any{"n": int64(3)}}}
	for _, script := range []string{
		`return {status = string.upper("healthy")}`,
		`return {status = ("Healthy"):lower()}`,
		`return {status = "Healthy", message = tostring(math.floor(1.5))}`,
		`return {status = "Healthy", message = io.read()}`,
		`return {status = "Healthy", message = os.getenv("HOME")}`,
		`while true do end`,
		`return "Healthy"`,
		`return {status = "Fine"}`,
	} {
		if got, err := runHealth(obj, script, nil); err == nil {
			t.Errorf("%s: got %+v, want an error", script, got)
		}
	}
	got, err := runHealth(obj, `local s = {}
table.insert(s, "n=" .. obj.spec.n)
for _, k in ipairs({"a", "b"}) do table.insert(s, k) end
return {status = "Healthy", message = table.concat(s, ", ") .. " " .. tostring(#s)}`, nil)
	if err != nil || got != (healthStatus{"Healthy", "n=3, a, b 3"}) {
		t.Errorf("base and table: got %+v, %v", got, err)
	}
}

// watch records what an instrumented run does.
type watch struct {
	hit           map[int]bool
	reads, writes map[string]bool
}

// runHealth runs a health script over obj as Argo CD's util/lua does for a
// check from argocd-cm (useOpenLibs not set): a fresh gopher-lua state
// without the standard libraries, then the package, base and table
// libraries (Argo CD adds a reduced os library too: these scripts may not
// use it, TestCoverageAndSandbox checks that), a one-second deadline, the
// live object as the global table obj, and the table the chunk returns
// read as {status, message}. With w, the chunk runs in a watched
// environment and its __cover probes are recorded.
func runHealth(obj *unstructured.Unstructured, script string, w *watch) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))

	fn, err := l.LoadString(script)
	if err != nil {
		return healthStatus{}, err
	}
	if w != nil {
		fn.Env = watchedEnv(l, w)
	}
	l.Push(fn)
	if err := l.PCall(0, lua.MultRet, nil); err != nil {
		return healthStatus{}, err
	}
	ret := l.Get(-1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	return fromLua(tbl)
}

// watchedEnv is an empty environment whose reads and writes go through
// metamethods, so every global the chunk (and the functions it defines)
// reads or sets is recorded; __cover(n) records probe n.
func watchedEnv(l *lua.LState, w *watch) *lua.LTable {
	env := l.NewTable()
	env.RawSetString("__cover", l.NewFunction(func(l *lua.LState) int {
		w.hit[l.CheckInt(1)] = true
		return 0
	}))
	mt := l.NewTable()
	mt.RawSetString("__index", l.NewFunction(func(l *lua.LState) int {
		name := l.CheckString(2)
		w.reads[name] = true
		l.Push(l.GetGlobal(name))
		return 1
	}))
	mt.RawSetString("__newindex", l.NewFunction(func(l *lua.LState) int {
		w.writes[l.CheckString(2)] = true
		return 0
	}))
	l.SetMetatable(env, mt)
	return env
}

// toLua converts a decoded JSON value as Argo CD's decodeValue does: maps
// and slices become tables (slices 1-based), numbers LNumber, json.Number
// a string.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// fromLua reads the returned table. Argo CD encodes it to JSON and decodes
// a HealthStatus; this is stricter: only the keys status and message, both
// strings, and a status Argo CD knows.
func fromLua(t *lua.LTable) (healthStatus, error) {
	var hs healthStatus
	var errs []error
	t.ForEach(func(k, v lua.LValue) {
		s, ok := v.(lua.LString)
		if !ok {
			errs = append(errs, fmt.Errorf("%s is a %s, not a string", k, v.Type()))
			return
		}
		switch k.String() {
		case "status":
			hs.Status = string(s)
		case "message":
			hs.Message = string(s)
		default:
			errs = append(errs, fmt.Errorf("unexpected key %s in the returned table", k))
		}
	})
	if !slices.Contains(validStatuses, hs.Status) {
		errs = append(errs, fmt.Errorf("status %q: Argo CD would show Unknown, \"Lua returned an invalid health status\"", hs.Status))
	}
	return hs, errors.Join(errs...)
}

var (
	stringLiteral = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	returnWord    = regexp.MustCompile(`\breturn\b`)
	blockOpener   = regexp.MustCompile(`\b(then|else|do)\b`)
	functionHead  = regexp.MustCompile(`^(local\s+)?function\b.*\)$`)
)

// code is a line without its string literals and comment.
func code(line string) string {
	line = stringLiteral.ReplaceAllString(line, `""`)
	if i := strings.Index(line, "--"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimSpace(line)
}

// checkStyle enforces what instrument relies on: a return starts its line,
// and then, else and do end theirs (no one-line if or loop).
func checkStyle(script string) error {
	var errs []error
	for i, line := range strings.Split(script, "\n") {
		c := code(line)
		if returnWord.MatchString(c) && !strings.HasPrefix(c, "return") {
			errs = append(errs, fmt.Errorf("line %d: a return must start its line: %s", i+1, c))
		}
		for _, m := range blockOpener.FindAllStringIndex(c, -1) {
			if m[1] != len(c) {
				errs = append(errs, fmt.Errorf("line %d: %q must end its line: %s", i+1, c[m[0]:m[1]], c))
			}
		}
		if strings.Contains(c, "[[") || strings.Contains(line, "--[[") {
			errs = append(errs, fmt.Errorf("line %d: no long strings or block comments, please", i+1))
		}
	}
	return errors.Join(errs...)
}

// instrument puts a probe __cover(n) before every return and at the start
// of every block (after then, else, do and function headers), keeping the
// line numbers; probes maps each probe to its line.
func instrument(script string) (string, map[int]int) {
	probes := map[int]int{}
	lines := strings.Split(script, "\n")
	for i, line := range lines {
		c := code(line)
		switch {
		case strings.HasPrefix(c, "return"):
			n := len(probes) + 1
			probes[n] = i + 1
			indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			lines[i] = indent + "__cover(" + strconv.Itoa(n) + ") " + strings.TrimLeft(line, " \t")
		case strings.HasSuffix(c, "then") || c == "else" || strings.HasSuffix(c, " do") || functionHead.MatchString(c):
			n := len(probes) + 1
			probes[n] = i + 1
			lines[i] = line + " __cover(" + strconv.Itoa(n) + ")"
		}
	}
	return strings.Join(lines, "\n"), probes
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestTestdataObjects checks that every testdata object is a well-formed
// object of its kind: it decodes strictly into the API types (no unknown or
// misspelt field), and its condition types and reasons are the ones
// api/v1alpha1/conditions.go declares, except in files named unknown-*,
// which stand for what a newer partnerops might write.
func TestTestdataObjects(t *testing.T) {
	types, reasons := declaredConditions(t)
	for _, kind := range kinds {
		c := loadCheck(t, kind)
		for _, tc := range c.tests {
			path := filepath.Join(c.dir, tc.InputPath)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var obj any
			var tm *metav1.TypeMeta
			var conds *[]metav1.Condition
			switch kind {
			case "PartnerInvitation":
				o := &v1alpha1.PartnerInvitation{}
				obj, tm, conds = o, &o.TypeMeta, &o.Status.Conditions
			case "PartnerAccount":
				o := &v1alpha1.PartnerAccount{}
				obj, tm, conds = o, &o.TypeMeta, &o.Status.Conditions
			}
			err = yaml.UnmarshalStrict(raw, obj)
			checkTypeMeta(t, path, tm.APIVersion, tm.Kind, kind)
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			if strings.HasPrefix(filepath.Base(path), "unknown-") {
				continue
			}
			for _, c := range *conds {
				if !types[c.Type] {
					t.Errorf("%s: condition type %q is not declared in api/v1alpha1/conditions.go", path, c.Type)
				}
				if !reasons[c.Reason] {
					t.Errorf("%s: reason %q (condition %s) is not declared in api/v1alpha1/conditions.go", path, c.Reason, c.Type)
				}
			}
		}
	}
}

func checkTypeMeta(t *testing.T, path, apiVersion, kind, want string) {
	t.Helper()
	if apiVersion != v1alpha1.GroupVersion.String() || kind != want {
		t.Errorf("%s: %s %s, want %s %s", path, apiVersion, kind, v1alpha1.GroupVersion, want)
	}
}

// declaredConditions reads the string constants Condition* and Reason* of
// api/v1alpha1/conditions.go.
func declaredConditions(t *testing.T) (types, reasons map[string]bool) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "api", "v1alpha1", "conditions.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	types, reasons = map[string]bool{}, map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		v, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		switch name := vs.Names[0].Name; {
		case strings.HasPrefix(name, "Condition"):
			types[v] = true
		case strings.HasPrefix(name, "Reason"):
			reasons[v] = true
		}
		return true
	})
	if len(types) == 0 || len(reasons) == 0 {
		t.Fatal("found no Condition* or Reason* constants in api/v1alpha1/conditions.go")
	}
	return types, reasons
}
