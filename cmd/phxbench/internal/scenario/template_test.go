package scenario

import (
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
)

func TestTemplates(t *testing.T) {
	tm, err := compileTmpl(`{"id":"{{id}}","n":"{{ n }}","g":"{{group}}","s":"{{seq}}","t":"{{stamp}}"}`, true)
	if err != nil {
		t.Fatal(err)
	}
	got := string(tm.Expand(nil, &TmplVars{ID: 12, N: 3, Group: "grp", Seq: 9, Stamp: 77}))
	check.Eq(t, "expand", got, `{"id":"12","n":"3","g":"grp","s":"9","t":"~pb~77~"}`)
	for _, bad := range []string{"{{", "{{nope}}"} {
		if _, err := compileTmpl(bad, true); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	if _, err := compileTmpl("{{seq}}", false); err == nil {
		t.Error("{{seq}} outside a payload accepted")
	}
}
