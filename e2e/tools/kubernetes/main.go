// Command pulumi-resource-kubernetes serves Pulumi's Kubernetes provider, built from its Go
// module for the real-engine tests.
//
// Upstream's own main (cmd/pulumi-resource-kubernetes/main.go in
// github.com/pulumi/pulumi-kubernetes) embeds schema-embed.json and
// terraform-mapping-embed.json, which its generate.go writes at release time and git
// ignores, so the module zip lacks them. This main embeds schema-embed.json instead, which
// `python -m e2e.tools.build` writes beside it from the module's committed schema.json with
// "version" set (git-ignored here too); the Terraform mapping only serves `pulumi convert`,
// so none is given. provider.Serve's signature:
// https://github.com/pulumi/pulumi-kubernetes/blob/v4.25.0/provider/pkg/provider/serve.go
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var schema []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, nil)
}
