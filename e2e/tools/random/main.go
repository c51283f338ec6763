// Command pulumi-resource-random is a stand-in for Pulumi's random provider in the
// real-engine tests: it serves the one resource the program registers,
// random:index/randomPassword:RandomPassword, with the upstream semantics.
//
// Why our own: the upstream provider is bridged from Terraform and its go.mod replaces a
// nested ./shim module that no module proxy serves (pulumi-random provider/go.mod at v4.19.1
// and v4.21.1), and `go list -m -versions github.com/pulumi/pulumi-random/provider/v4` is
// refused by the proxy here (403). See e2e/tools/README.md.
//
// Semantics kept from terraform-provider-random (internal/provider/string.go,
// https://github.com/hashicorp/terraform-provider-random/blob/main/internal/provider/string.go):
// upper, lower, numeric and special default to true; every input forces a replacement;
// the id of a password is "none"; result and bcryptHash are sensitive. Our generator draws
// from crypto/rand like upstream.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is set at link time to the pulumi-random Python SDK's version (requirements.lock),
// so the engine finds the version the program asks for.
var version = "0.0.0"

const passwordType = "random:index/randomPassword:RandomPassword"

const (
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	numericChars = "0123456789"
	// The upstream default set of special characters.
	defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

// inputKeys are the resource's inputs; a change to any of them replaces the resource.
var inputKeys = []resource.PropertyKey{
	"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper",
	"number", "numeric", "overrideSpecial", "special", "upper",
}

// booleans that default to true when not given.
var trueByDefault = []resource.PropertyKey{"lower", "number", "numeric", "special", "upper"}

// counts that default to 0 when not given.
var zeroByDefault = []resource.PropertyKey{"minLower", "minNumeric", "minSpecial", "minUpper"}

type randomProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &randomProvider{}, nil
	})
	if err != nil {
		panic(err)
	}
}

var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, marshalOpts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshalOpts)
}

func (p *randomProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *randomProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *randomProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *randomProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *randomProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func checkType(t string) error {
	if t != "" && t != passwordType {
		return fmt.Errorf("this stand-in serves only %s, not %s", passwordType, t)
	}
	return nil
}

// Check fills the defaults and refuses what upstream refuses: a length below 1 or below the
// sum of the minimums.
func (p *randomProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range trueByDefault {
		if _, ok := news[k]; !ok {
			news[k] = resource.NewProperty(true)
		}
	}
	for _, k := range zeroByDefault {
		if _, ok := news[k]; !ok {
			news[k] = resource.NewProperty(0.0)
		}
	}
	var failures []*pulumirpc.CheckFailure
	length, known := number(news, "length")
	if known {
		mins := 0
		allKnown := true
		for _, k := range zeroByDefault {
			n, ok := number(news, k)
			allKnown = allKnown && ok
			mins += n
		}
		switch {
		case length < 1:
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: "length", Reason: fmt.Sprintf("length (%d) must be >= 1", length)})
		case allKnown && length < mins:
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: "length",
				Reason: fmt.Sprintf("length (%d) must be >= minUpper + minLower + minNumeric + minSpecial (%d)",
					length, mins)})
		}
	}
	inputs, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// Diff: every input forces a replacement, as upstream.
func (p *randomProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var replaces []string
	for _, k := range inputKeys {
		o, n := olds[k], news[k]
		if n.ContainsUnknowns() || !o.DeepEquals(n) {
			replaces = append(replaces, string(k))
		}
	}
	if len(replaces) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: replaces, Diffs: replaces,
	}, nil
}

func (p *randomProvider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetType()); err != nil {
		return nil, err
	}
	props, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs := props.Copy()
	if req.GetPreview() {
		outs["result"] = resource.MakeComputed(resource.NewProperty(""))
		outs["bcryptHash"] = resource.MakeComputed(resource.NewProperty(""))
	} else {
		result, err := generate(props)
		if err != nil {
			return nil, err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		outs["result"] = resource.MakeSecret(resource.NewProperty(result))
		outs["bcryptHash"] = resource.MakeSecret(resource.NewProperty(string(hash)))
	}
	properties, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: "none", Properties: properties}, nil
}

// Read returns the state as it is: a password exists only in the state.
func (p *randomProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// Update is never planned (every change replaces); refuse rather than pretend.
func (p *randomProvider) Update(context.Context, *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return nil, fmt.Errorf("%s is replaced on every change, never updated", passwordType)
}

func (p *randomProvider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// number reads an integer input; false if it is unknown or absent.
func number(m resource.PropertyMap, k resource.PropertyKey) (int, bool) {
	v, ok := m[k]
	if !ok {
		return 0, false
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsNumber() {
		return 0, false
	}
	return int(v.NumberValue()), true
}

func flag(m resource.PropertyMap, k resource.PropertyKey) bool {
	v := m[k]
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v.IsBool() && v.BoolValue()
}

// generate draws the minimum of each class first, fills the rest from the allowed set, then
// shuffles, as upstream does.
func generate(props resource.PropertyMap) (string, error) {
	length, ok := number(props, "length")
	if !ok {
		return "", fmt.Errorf("length is required")
	}
	special := defaultSpecial
	if v := props["overrideSpecial"]; v.IsString() && v.StringValue() != "" {
		special = v.StringValue()
	}
	var allowed strings.Builder
	if flag(props, "upper") {
		allowed.WriteString(upperChars)
	}
	if flag(props, "lower") {
		allowed.WriteString(lowerChars)
	}
	// "number" is the deprecated spelling of "numeric": both must allow digits.
	if flag(props, "numeric") && flag(props, "number") {
		allowed.WriteString(numericChars)
	}
	if flag(props, "special") {
		allowed.WriteString(special)
	}
	out := make([]byte, 0, length)
	for set, key := range map[string]resource.PropertyKey{
		upperChars: "minUpper", lowerChars: "minLower", numericChars: "minNumeric", special: "minSpecial",
	} {
		n, _ := number(props, key)
		drawn, err := draw(set, n)
		if err != nil {
			return "", err
		}
		out = append(out, drawn...)
	}
	if allowed.Len() == 0 && len(out) < length {
		return "", fmt.Errorf("no characters allowed: enable upper, lower, numeric or special")
	}
	rest, err := draw(allowed.String(), length-len(out))
	if err != nil {
		return "", err
	}
	out = append(out, rest...)
	// Fisher-Yates with crypto/rand, so the minimums do not sit at the front.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func draw(set string, n int) ([]byte, error) {
	out := make([]byte, 0, max(n, 0))
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return nil, err
		}
		out = append(out, set[i.Int64()])
	}
	return out, nil
}
