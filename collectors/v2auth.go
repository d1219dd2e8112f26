package collectors

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// v2Auth reads the v2 API's own auth settings: whether it is on, and how
// many users and roles it stores. They live in the v2 store beside the keys
// (under /2, which the keys API does not show), and etcd 3.6 counts any user
// or role there as custom v2 content and refuses to start on it
// (membership.IsMetaStoreOnly, etcd 3.6 server/etcdserver/api/membership/
// storev2.go; etcd discussion #20231). The root role is built in and never
// stored. Every read is a non-quorum GET (no raft entry); the lists need
// root access once v2 auth is on, which v2Do gives from the inventory's
// credentials. When they cannot be read, AuthCounted stays false.
func v2Auth(ctx context.Context, t *Target, f *V2Facts) error {
	base := strings.TrimSuffix(t.Member.Endpoint, "/") + "/v2/auth/"
	var enabled struct {
		Enabled bool `json:"enabled"`
	}
	if err := v2AuthGet(ctx, t, base+"enable", &enabled); err != nil {
		return err
	}
	f.AuthEnabled = enabled.Enabled
	var users struct {
		Users []struct {
			User string `json:"user"`
		} `json:"users"`
	}
	var roles struct {
		Roles []struct {
			Role string `json:"role"`
		} `json:"roles"`
	}
	if err := v2AuthGet(ctx, t, base+"users", &users); err != nil {
		return err
	}
	if err := v2AuthGet(ctx, t, base+"roles", &roles); err != nil {
		return err
	}
	f.AuthUsers = int64(len(users.Users))
	for _, r := range roles.Roles {
		if r.Role != "root" {
			f.AuthRoles++
		}
	}
	f.AuthCounted = true
	return nil
}

// errV2AuthDenied: the member refused the v2 auth lists even with the
// inventory's credentials (or there are none).
var errV2AuthDenied = fmt.Errorf("v2 auth is on and its users and roles need root access: give the cluster's root user and password in the inventory (auth:)")

func v2AuthGet(ctx context.Context, t *Target, u string, v any) error {
	resp, err := v2Do(ctx, t, u)
	if err != nil {
		return err
	}
	body, code, err := readBody(resp, u)
	if err != nil {
		return err
	}
	if code == http.StatusUnauthorized {
		return errV2AuthDenied
	}
	return decodeJSON(body, code, u, v)
}
