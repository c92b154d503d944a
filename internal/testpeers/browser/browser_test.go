package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestClickAFormButton proves the browser runs and submits a form: the
// shape every acceptance-page test relies on.
func TestClickAFormButton(t *testing.T) {
	posted := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_ = r.ParseForm()
			posted <- r.PostForm.Get("token")
			fmt.Fprint(w, `<!doctype html><title>done</title><p id="done">done</p>`)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>form</title><form method="post"><input type="hidden" name="token" value="abc"><button id="go">Go</button></form>`)
	}))
	defer srv.Close()
	ctx := New(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.ID("done")),
	); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if got := <-posted; got != "abc" || title != "done" {
		t.Fatalf("posted %q, title %q", got, title)
	}
}
