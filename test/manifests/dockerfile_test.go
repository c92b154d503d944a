package manifests

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The image cannot be built here (no container engine on our machines), so
// these tests hold the Dockerfile to what can be checked without one: its
// Go is go.mod's, its go build line is `make build`'s plus the release
// flags, its image runs as the user the Deployment names, and its builder
// stage, replayed step by step on the build context .dockerignore lets
// through, builds a static manager.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int
	cmd   string            // FROM, RUN, COPY, … in upper case
	flags map[string]string // --from=builder, --platform=…
	args  string
}

// stage is one FROM and what follows it.
type stage struct {
	image, name string
	instrs      []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

var flagRE = regexp.MustCompile(`^--([a-z-]+)=(\S*)\s*`)

// imageRE is a base image as the Dockerfile may name it: name:tag, or
// name:tag@sha256:<digest> once `make pin-base-images` pinned it (the tag
// kept for people and for TestDockerfileGoVersion).
var imageRE = regexp.MustCompile(`^([a-z0-9./-]+):([A-Za-z0-9._-]+)(@sha256:[0-9a-f]{64})?$`)

// baseImage splits a FROM's image into name:tag and its digest ("" when
// not pinned); a form other than imageRE's fails the test.
func baseImage(t *testing.T, image string) (nameTag, digest string) {
	t.Helper()
	m := imageRE.FindStringSubmatch(image)
	if m == nil {
		t.Fatalf("FROM %s: want name:tag or name:tag@sha256:<64 hex digits>", image)
	}
	if m[2] == "latest" {
		t.Errorf("FROM %s: the latest tag says nothing about what is built on", image)
	}
	return m[1] + ":" + m[2], strings.TrimPrefix(m[3], "@")
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	return parseDockerfileAt(t, filepath.Join(root, "Dockerfile"))
}

func parseDockerfileAt(t *testing.T, file string) []stage {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	s := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{line: start, cmd: strings.ToUpper(cmd), flags: map[string]string{}}
		args = strings.TrimSpace(args)
		for m := flagRE.FindStringSubmatch(args); m != nil; m = flagRE.FindStringSubmatch(args) {
			in.flags[m[1]] = m[2]
			args = args[len(m[0]):]
		}
		in.args = args
		if in.cmd == "FROM" {
			f := strings.Fields(args)
			st := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile:%d: %s before any FROM", start, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) != 2 || stages[0].name != "builder" {
		t.Fatalf("the Dockerfile has %d stages (the first named %q), want a builder and the image", len(stages), stages[0].name)
	}
	return stages
}

// goBuild returns the words of the builder's go build command, and the
// environment assignments before it.
func goBuild(t *testing.T, builder stage) (env map[string]string, words []string) {
	t.Helper()
	for _, in := range builder.all("RUN") {
		w := shellWords(t, in.args)
		env = map[string]string{}
		for len(w) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(w[0]) {
			k, v, _ := strings.Cut(w[0], "=")
			env[k] = v
			w = w[1:]
		}
		if len(w) >= 2 && w[0] == "go" && w[1] == "build" {
			return env, w[1:]
		}
	}
	t.Fatal("no RUN … go build in the builder stage")
	return nil, nil
}

// shellWords splits a simple shell command into words, with quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	var quote rune
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case strings.ContainsRune(";&|<>`", r):
			t.Fatalf("the go build RUN line is more than one simple command: %s", s)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// without removes "-o <path>" from a go build command line.
func withoutOutput(words []string) (rest []string, output string) {
	for i := 0; i < len(words); i++ {
		if words[i] == "-o" && i+1 < len(words) {
			output = words[i+1]
			i++
			continue
		}
		rest = append(rest, words[i])
	}
	return rest, output
}

// TestDockerfileGoVersion: the builder's Go is the one go.mod pins (its
// toolchain line if it has one, else its go line), and the builder never
// switches to another toolchain.
func TestDockerfileGoVersion(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod); m != nil {
		want = string(m[1])
	}
	if m := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(mod); m != nil {
		want = string(m[1])
	}
	if strings.Count(want, ".") != 2 {
		t.Fatalf("go.mod pins Go %q: want a full version such as 1.26.0", want)
	}
	builder := parseDockerfile(t)[0]
	if got, _ := baseImage(t, builder.image); got != "golang:"+want {
		t.Errorf("the builder is %s, want golang:%s (go.mod)", got, want)
	}
	if !slices.ContainsFunc(builder.all("ENV"), func(in instruction) bool { return in.args == "GOTOOLCHAIN=local" }) {
		t.Errorf("the builder does not set GOTOOLCHAIN=local: go could download another toolchain")
	}
}

// TestDockerfileBuildLineIsMakeBuild: the builder's go build is `make
// build`'s (as `make -n build` prints it: same package, same flags, the
// same -X variables: main.version, main.commit and main.date, from the
// build arguments VERSION, COMMIT and BUILD_DATE), plus only what a release
// image adds: CGO_ENABLED=0 (a static binary for distroless), -trimpath (no
// local paths in the binary), and GOOS/GOARCH for the image's platform.
func TestDockerfileBuildLineIsMakeBuild(t *testing.T) {
	out := makeDryRun(t, "build", "VERSION=v9.8.7", "COMMIT=c0ffee", "BUILD_DATE=2026-01-02T03:04:05Z")
	var makeWords []string
	for _, line := range strings.Split(out, "\n") {
		w := strings.Fields(line)
		if i := slices.Index(w, "-o"); i >= 0 && i+1 < len(w) && strings.HasSuffix(w[i+1], "/bin/partnerops") {
			w = shellWords(t, line)
			makeWords = w[slices.Index(w, "build"):]
		}
	}
	if makeWords == nil {
		t.Fatalf("no go build -o …/bin/partnerops in make -n build:\n%s", out)
	}
	makeRest, _ := withoutOutput(makeWords)
	makeRest, makeX := withoutLdflags(t, makeRest)
	if want := map[string]string{"main.version": "v9.8.7", "main.commit": "c0ffee", "main.date": "2026-01-02T03:04:05Z"}; !maps.Equal(makeX, want) {
		t.Errorf("make build sets -X %v, want %v", makeX, want)
	}

	builder := parseDockerfile(t)[0]
	env, words := goBuild(t, builder)
	dockerRest, _ := withoutOutput(words)
	dockerRest, dockerX := withoutLdflags(t, dockerRest)
	var extras []string
	if i := slices.Index(dockerRest, "-trimpath"); i >= 0 {
		extras = append(extras, "-trimpath")
		dockerRest = slices.Delete(dockerRest, i, i+1)
	}
	args := map[string]bool{}
	for _, in := range builder.all("ARG") {
		name, _, _ := strings.Cut(in.args, "=")
		args[name] = true
	}
	for name := range makeX {
		v := dockerX[name]
		m := regexp.MustCompile(`^\$\{?([A-Z_]+)\}?$`).FindStringSubmatch(v)
		if m == nil || !args[m[1]] {
			t.Errorf("the Dockerfile sets -X %s=%q, want it from a build argument (ARG) as make build sets it", name, v)
		}
	}
	for name := range dockerX {
		if _, ok := makeX[name]; !ok {
			t.Errorf("the Dockerfile sets -X %s, which make build does not", name)
		}
	}
	if !slices.Equal(dockerRest, makeRest) {
		t.Errorf("the Dockerfile runs go %s (release flags aside), make build runs go %s",
			strings.Join(dockerRest, " "), strings.Join(makeRest, " "))
	}
	if !slices.Contains(extras, "-trimpath") {
		t.Errorf("the Dockerfile does not build with -trimpath")
	}
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("CGO_ENABLED=%q, want 0: distroless/static has no C library", env["CGO_ENABLED"])
	}
	for k := range env {
		if !slices.Contains([]string{"CGO_ENABLED", "GOOS", "GOARCH"}, k) {
			t.Errorf("the go build line sets %s, which make build does not", k)
		}
	}
}

// withoutLdflags removes `-ldflags "…"` from a go build command line and
// returns its -X assignments, name → value; any other linker flag fails.
func withoutLdflags(t *testing.T, words []string) (rest []string, x map[string]string) {
	t.Helper()
	x = map[string]string{}
	for i := 0; i < len(words); i++ {
		if words[i] != "-ldflags" || i+1 == len(words) {
			rest = append(rest, words[i])
			continue
		}
		f := strings.Fields(words[i+1])
		for j := 0; j < len(f); j += 2 {
			if f[j] != "-X" || j+1 == len(f) || !strings.Contains(f[j+1], "=") {
				t.Fatalf("-ldflags %q: only -X name=value here", words[i+1])
			}
			name, value, _ := strings.Cut(f[j+1], "=")
			x[name] = value
		}
		i++
	}
	return rest, x
}

// makeDryRun is `make -n target vars…` at the repository's root.
func makeDryRun(t *testing.T, target string, vars ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-n", target}, vars...)...)
	cmd.Dir, cmd.Env = root, makeEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n %s: %v", target, err)
	}
	return string(out)
}

// TestDockerfileCrossBuilds: the builder runs on the build machine's
// platform and compiles for the image's, from the TARGETOS and TARGETARCH
// BuildKit gives it, so `docker buildx build --platform a,b` needs no
// emulation; and `make docker-buildx PLATFORMS=…` (kubebuilder's target,
// which cannot run here: no container engine) builds and pushes IMG for
// those platforms with the same build arguments as `make docker-build`,
// each an ARG of the Dockerfile, on a builder of its own that it removes.
func TestDockerfileCrossBuilds(t *testing.T) {
	builder := parseDockerfile(t)[0]
	if p := builder.instrs[0].flags["platform"]; p != "$BUILDPLATFORM" && p != "${BUILDPLATFORM}" {
		t.Errorf("the builder's FROM has --platform=%q, want $BUILDPLATFORM", p)
	}
	args := map[string]bool{}
	for _, in := range builder.all("ARG") {
		name, _, _ := strings.Cut(in.args, "=")
		args[name] = true
	}
	for _, a := range []string{"TARGETOS", "TARGETARCH"} {
		if !args[a] {
			t.Errorf("the builder does not declare ARG %s: BuildKit's value would not reach go build", a)
		}
	}
	env, _ := goBuild(t, builder)
	if !regexp.MustCompile(`^\$\{TARGETOS(:-linux)?\}$`).MatchString(env["GOOS"]) ||
		!regexp.MustCompile(`^\$\{?TARGETARCH\}?$`).MatchString(env["GOARCH"]) {
		t.Errorf("go build runs with GOOS=%q GOARCH=%q, want them from TARGETOS and TARGETARCH", env["GOOS"], env["GOARCH"])
	}

	const img = "registry.example.com/partnerops:v9.8.7"
	out := makeDryRun(t, "docker-buildx", "IMG="+img, "PLATFORMS=linux/amd64,linux/arm64",
		"VERSION=v9.8.7", "COMMIT=c0ffee", "BUILD_DATE=2026-01-02T03:04:05Z")
	var create, use, build, remove []string
	for _, line := range strings.Split(out, "\n") {
		var w []string
		for _, f := range strings.Fields(line) {
			w = append(w, strings.Trim(f, `'";`))
		}
		for i := 0; i+2 < len(w); i++ {
			if w[i] != "docker" || w[i+1] != "buildx" {
				continue
			}
			switch rest := w[i+2:]; rest[0] {
			case "create":
				create = rest
			case "use":
				use = rest
			case "build":
				build = rest
			case "rm":
				remove = rest
			}
		}
	}
	if create == nil || use == nil || build == nil || remove == nil {
		t.Fatalf("make -n docker-buildx does not create, use, build with and remove a builder:\n%s", out)
	}
	name := create[slices.Index(create, "--name")+1]
	if use[1] != name || remove[1] != name {
		t.Errorf("the builder created is %s, then %v and %v", name, use, remove)
	}
	for _, want := range []string{"--push", "--platform=linux/amd64,linux/arm64", "--tag " + img, "-f Dockerfile",
		"--build-arg VERSION=v9.8.7", "--build-arg COMMIT=c0ffee", "--build-arg BUILD_DATE=2026-01-02T03:04:05Z"} {
		if !strings.Contains(" "+strings.Join(build, " ")+" ", " "+want+" ") {
			t.Errorf("docker buildx %s: no %s", strings.Join(build, " "), want)
		}
	}
	if build[len(build)-1] != "." {
		t.Errorf("docker buildx %s: the context is not the repository's root", strings.Join(build, " "))
	}
	for i, w := range build {
		if w == "--build-arg" && i+1 < len(build) {
			if name, _, _ := strings.Cut(build[i+1], "="); !args[name] {
				t.Errorf("docker buildx build --build-arg %s: the builder has no ARG %s", build[i+1], name)
			}
		}
	}
}

// TestPinBaseImages runs hack/pin-base-images.sh on a copy of the
// Dockerfile with a stand-in for crane (the registry is out of reach):
// every base image becomes name:tag@sha256:<the digest crane gave for
// name:tag>, nothing else changes, the result still passes the checks of
// the tests above, running it again replaces the pins, and a registry that
// fails leaves the file as it was.
func TestPinBaseImages(t *testing.T) {
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	orig, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(root, "Dockerfile"), dockerfile)
	// The stand-in's digest is the sha256 of the reference and a salt, so
	// each image gets its own and a new salt gives new ones.
	crane := filepath.Join(dir, "crane")
	script := "#!/bin/sh\n[ \"$1\" = digest ] || exit 2\n[ -z \"$FAIL\" ] || { echo 'UNAUTHORIZED' >&2; exit 1; }\n" +
		"printf 'sha256:%s\\n' \"$(printf '%s%s' \"$2\" \"$SALT\" | sha256sum | cut -d' ' -f1)\"\n"
	if err := os.WriteFile(crane, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pin := func(salt, fail string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(root, "hack", "pin-base-images.sh"))
		cmd.Env = append(os.Environ(), "DOCKERFILE="+dockerfile, "CRANE="+crane, "SALT="+salt, "FAIL="+fail)
		return cmd.CombinedOutput()
	}
	check := func(salt string) {
		t.Helper()
		stages := parseDockerfileAt(t, dockerfile)
		want := parseDockerfile(t)
		for i, st := range stages {
			nameTag, digest := baseImage(t, st.image)
			wantNameTag, _ := baseImage(t, want[i].image)
			sum := sha256.Sum256([]byte(nameTag + salt))
			if nameTag != wantNameTag || digest != "sha256:"+hex.EncodeToString(sum[:]) {
				t.Errorf("stage %d: FROM %s, want %s@sha256:<crane digest %s>", i, st.image, wantNameTag, nameTag)
			}
			if len(st.instrs) != len(want[i].instrs) {
				t.Errorf("stage %d has %d instructions, the Dockerfile's %d", i, len(st.instrs), len(want[i].instrs))
			}
		}
		// Only the FROM lines changed.
		got, _ := os.ReadFile(dockerfile)
		gl, ol := strings.Split(string(got), "\n"), strings.Split(string(orig), "\n")
		if len(gl) != len(ol) {
			t.Fatalf("pinning changed the number of lines: %d, was %d", len(gl), len(ol))
		}
		for i := range gl {
			if gl[i] != ol[i] && !strings.HasPrefix(gl[i], "FROM ") {
				t.Errorf("line %d changed: %q, was %q", i+1, gl[i], ol[i])
			}
		}
	}
	if out, err := pin("one", ""); err != nil {
		t.Fatalf("pin-base-images.sh: %v\n%s", err, out)
	}
	check("one")
	if out, err := pin("two", ""); err != nil {
		t.Fatalf("pin-base-images.sh again: %v\n%s", err, out)
	}
	check("two")
	before, _ := os.ReadFile(dockerfile)
	if out, err := pin("three", "yes"); err == nil {
		t.Errorf("pin-base-images.sh succeeded with a failing registry:\n%s", out)
	}
	if after, _ := os.ReadFile(dockerfile); !bytes.Equal(before, after) {
		t.Errorf("a failing registry changed the Dockerfile")
	}
	if leftovers, _ := filepath.Glob(dockerfile + ".*"); len(leftovers) > 0 {
		t.Errorf("pin-base-images.sh left %v", leftovers)
	}
}

// TestDockerfileImage: the image is distroless static as the nonroot user,
// the same user and group the Deployment runs as, and starts the manager
// the builder made.
func TestDockerfileImage(t *testing.T) {
	stages := parseDockerfile(t)
	builder, image := stages[0], stages[1]
	if base, _ := baseImage(t, image.image); base != "gcr.io/distroless/static:nonroot" {
		t.Errorf("the image is based on %s, want gcr.io/distroless/static:nonroot", image.image)
	}
	for _, in := range image.instrs {
		if !slices.Contains([]string{"FROM", "COPY", "USER", "ENTRYPOINT"}, in.cmd) {
			t.Errorf("Dockerfile:%d: %s in the image stage (distroless has no shell)", in.line, in.cmd)
		}
	}
	pod := managerDeployment(t, render(t, "config/default")).Spec.Template.Spec.SecurityContext
	wantUser := fmt.Sprintf("%d:%d", *pod.RunAsUser, *pod.RunAsGroup)
	if users := image.all("USER"); len(users) != 1 || users[0].args != wantUser {
		t.Errorf("USER %v, want %s (the Deployment's runAsUser:runAsGroup, distroless's nonroot)", users, wantUser)
	}
	entry := image.all("ENTRYPOINT")
	var argv []string
	if len(entry) != 1 || json.Unmarshal([]byte(entry[0].args), &argv) != nil || !slices.Equal(argv, []string{"/partnerops"}) {
		t.Errorf("ENTRYPOINT %v, want [\"/partnerops\"] (exec form: there is no shell)", entry)
	}
	_, words := goBuild(t, builder)
	_, output := withoutOutput(words)
	workdirs := builder.all("WORKDIR")
	if len(workdirs) == 0 {
		t.Fatal("no WORKDIR in the builder")
	}
	built := path.Join(workdirs[len(workdirs)-1].args, output)
	copies := image.all("COPY")
	if len(copies) != 1 || copies[0].flags["from"] != "builder" || copies[0].args != built+" /partnerops" {
		t.Errorf("the image copies %v, want COPY --from=builder %s /partnerops", copies, built)
	}
}

// TestDockerignore: the build context has everything the manager's build
// reads (go.mod, go.sum, the Go and embedded files of each of the module's
// packages the manager imports), and none of the rest: no tests, tools,
// binaries or Git history.
func TestDockerignore(t *testing.T) {
	ctxFiles := buildContext(t)
	out, _ := run(t, root, "go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}{{end}}`, ".")
	need := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Split(line, "|")
		dir, _ := filepath.Rel(root, parts[0])
		for _, list := range parts[1:] {
			for _, f := range strings.Split(list, ",") {
				if f != "" {
					need = append(need, filepath.ToSlash(filepath.Join(dir, f)))
				}
			}
		}
	}
	for _, f := range need {
		if _, ok := ctxFiles[f]; !ok {
			t.Errorf("%s is needed by the build and left out of the context", f)
		}
	}
	for f := range ctxFiles {
		if strings.HasSuffix(f, "_test.go") || strings.Contains(f, "/testdata/") {
			t.Errorf("%s (a test file) is in the context", f)
		}
		for _, dir := range []string{".git/", "bin/", "dist/", "docs/", "config/", "hack/", "cmd/", "test/"} {
			if strings.HasPrefix(f, dir) {
				t.Errorf("%s is in the context", f)
			}
		}
	}
}

// TestDockerfileBuilderReplay runs the builder stage's steps on this
// machine, as a container engine would: ARG, ENV and WORKDIR, COPY from the
// build context that .dockerignore lets through, and each RUN with sh, with
// the Go on PATH instead of the image's. The manager it builds is static,
// has no local paths in it, carries the version given as a build argument,
// and starts.
func TestDockerfileBuilderReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager from scratch with -trimpath (about a minute the first time)")
	}
	stages := parseDockerfile(t)
	ctxFiles := buildContext(t)
	version := "replay-" + strconv.FormatInt(int64(os.Getpid()), 36)
	fsRoot := t.TempDir() // the builder's /
	workdir := fsRoot
	args := map[string]string{}
	// docker build --build-arg, as make docker-build passes them.
	buildArgs := map[string]string{"VERSION": version, "COMMIT": "c0ffee" + version, "BUILD_DATE": "2026-01-02T03:04:05Z"}
	env := map[string]string{}
	inside := func(p string) string {
		if path.IsAbs(p) {
			return filepath.Join(fsRoot, filepath.FromSlash(p))
		}
		return filepath.Join(workdir, filepath.FromSlash(p))
	}

	for _, in := range stages[0].instrs {
		switch in.cmd {
		case "FROM":
		case "ARG":
			name, def, hasDefault := strings.Cut(in.args, "=")
			if v, ok := buildArgs[name]; ok {
				args[name] = v
			} else if hasDefault {
				args[name] = def
			}
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			env[k] = v
		case "WORKDIR":
			workdir = inside(in.args)
			if err := os.MkdirAll(workdir, 0o755); err != nil {
				t.Fatal(err)
			}
		case "COPY":
			if len(in.flags) > 0 {
				t.Fatalf("Dockerfile:%d: COPY %v in the builder: the replay does not know it", in.line, in.flags)
			}
			f := strings.Fields(in.args)
			copyFromContext(t, ctxFiles, f[:len(f)-1], f[len(f)-1], inside(f[len(f)-1]), in.line)
		case "RUN":
			cmd := exec.Command("sh", "-c", in.args)
			cmd.Dir = workdir
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				// Not this machine's build settings: the image has none.
				if !slices.Contains([]string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOTOOLCHAIN"}, k) {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			for k, v := range args {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("Dockerfile:%d: RUN %s: %v\n%s", in.line, in.args, err, out)
			}
		default:
			t.Fatalf("Dockerfile:%d: %s in the builder: the replay does not know it", in.line, in.cmd)
		}
	}

	// What the image stage copies out of the builder.
	from := strings.Fields(stages[1].all("COPY")[0].args)[0]
	bin := filepath.Join(fsRoot, filepath.FromSlash(from))
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("the image copies %s from the builder: %v", from, err)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the manager is dynamically linked (it has an ELF interpreter): distroless/static has no C library")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the manager needs shared libraries %v", libs)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != "github.com/partnerops/partnerops" {
		t.Errorf("built %s, want the manager github.com/partnerops/partnerops", info.Path)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"} {
		if settings[k] != want {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], want)
		}
	}
	if !bytes.Contains(data, []byte(version)) {
		t.Errorf("the binary does not carry the version %s given with --build-arg VERSION", version)
	}
	if bytes.Contains(data, []byte(fsRoot)) {
		t.Errorf("the binary holds the build directory's path %s (-trimpath)", fsRoot)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-config") {
		t.Errorf("%s --help: %v\n%s", from, err, out)
	}
	out, err = exec.Command(bin, "--version").CombinedOutput()
	want := fmt.Sprintf("partnerops %s (commit %s, built %s, ", version, buildArgs["COMMIT"], buildArgs["BUILD_DATE"])
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("%s --version: %v\n%s\nwant it to start with %q", from, err, out, want)
	}
}

// copyFromContext does COPY srcs… dest: a file to dest (or into it when it
// is a directory), a directory's content into dest.
func copyFromContext(t *testing.T, ctxFiles map[string]string, srcs []string, dest, to string, line int) {
	t.Helper()
	intoDir := strings.HasSuffix(dest, "/") || dest == "." || len(srcs) > 1
	for _, src := range srcs {
		src = path.Clean(src)
		if abs, ok := ctxFiles[src]; ok {
			target := to
			if intoDir {
				target = filepath.Join(to, path.Base(src))
			}
			copyFile(t, abs, target)
			continue
		}
		n := 0
		for rel, abs := range ctxFiles {
			if sub, ok := strings.CutPrefix(rel, src+"/"); ok {
				copyFile(t, abs, filepath.Join(to, filepath.FromSlash(sub)))
				n++
			}
		}
		if n == 0 {
			t.Fatalf("Dockerfile:%d: COPY %s: not in the build context (.dockerignore)", line, src)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildContext is what a container engine sends as the build context of
// the repository: every file .dockerignore does not exclude, by its path
// relative to the root (with /), to its path on disk.
func buildContext(t *testing.T) map[string]string {
	t.Helper()
	ignore := readDockerignore(t)
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if ignore.excludes(rel) && !ignore.mayReinclude(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !ignore.excludes(rel) {
			files[rel] = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dockerignore holds .dockerignore's patterns, matched as Docker (moby's
// patternmatcher) matches them: in order, the last matching pattern wins, a
// pattern matching a parent directory matches its files, `!` re-includes,
// `*` and `?` stop at `/`, `**` crosses directories (character classes
// such as [a-z] are not supported: .dockerignore has none).
type dockerignore []ignorePattern

type ignorePattern struct {
	text      string
	re        *regexp.Regexp
	exclusion bool // a `!` pattern
}

func readDockerignore(t *testing.T) dockerignore {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var out dockerignore
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.exclusion, line = true, rest
		}
		p.text = strings.TrimPrefix(path.Clean(line), "/")
		if strings.ContainsAny(p.text, "[\\") {
			t.Fatalf(".dockerignore: %s: the test's matcher does not know [ ] or \\", line)
		}
		p.re = regexp.MustCompile("^" + globRegexp(p.text) + "$")
		out = append(out, p)
	}
	return out
}

func globRegexp(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			i++
			if i+1 < len(glob) && glob[i+1] == '/' {
				i++
				b.WriteString("(.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excludes reports whether the file (or directory) rel stays out of the
// context.
func (d dockerignore) excludes(rel string) bool {
	parts := strings.Split(rel, "/")
	matched := false
	for _, p := range d {
		if p.exclusion != matched {
			continue
		}
		match := p.re.MatchString(rel)
		for i := 1; !match && i < len(parts); i++ {
			match = p.re.MatchString(strings.Join(parts[:i], "/"))
		}
		if match {
			matched = !p.exclusion
		}
	}
	return matched
}

// mayReinclude reports whether a `!` pattern could bring back something
// under the excluded directory dir.
func (d dockerignore) mayReinclude(dir string) bool {
	for _, p := range d {
		if p.exclusion && (strings.HasPrefix(p.text, dir+"/") || strings.ContainsAny(p.text, "*?[")) {
			return true
		}
	}
	return false
}
