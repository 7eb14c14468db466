package node

import (
	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk"
)

// TODO(spec): switch to sdk.ConfigFromProto once it lands.
func configFromProto(m map[string]*galev1.Value) sdk.Config {
	c := make(sdk.Config, len(m))
	for k, v := range m {
		c[k] = valueFromProto(v)
	}
	return c
}

func valueFromProto(v *galev1.Value) sdk.Value {
	switch k := v.GetKind().(type) {
	case *galev1.Value_StringValue:
		return sdk.String(k.StringValue)
	case *galev1.Value_IntValue:
		return sdk.Int(k.IntValue)
	case *galev1.Value_DoubleValue:
		return sdk.Double(k.DoubleValue)
	case *galev1.Value_BoolValue:
		return sdk.Bool(k.BoolValue)
	case *galev1.Value_BytesValue:
		return sdk.Bytes(k.BytesValue)
	}
	return sdk.Null()
}
