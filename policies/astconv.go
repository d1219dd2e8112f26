package policies

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// toAST converts facts structs straight to Rego values, following
// encoding/json's rules (json tags, omitempty, "-", RFC 3339 times), so a
// control sees exactly the shape of a saved facts file. It replaces a JSON
// encode + decode round trip that cost more than judging a member.
func toAST(v any) (ast.Value, error) {
	return valueOf(reflect.ValueOf(v))
}

var timeType = reflect.TypeFor[time.Time]()

func valueOf(v reflect.Value) (ast.Value, error) {
	switch v.Kind() {
	case reflect.Invalid:
		return ast.Null{}, nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		return valueOf(v.Elem())
	}
	if v.Type() == timeType {
		return ast.String(v.Interface().(time.Time).Format(time.RFC3339Nano)), nil
	}
	switch v.Kind() {
	case reflect.Bool:
		return ast.Boolean(v.Bool()), nil
	case reflect.String:
		return ast.String(v.String()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return ast.Number(strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		return ast.Number(strconv.FormatFloat(v.Float(), 'g', -1, 64)), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return ast.Null{}, nil
		}
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			x, err := valueOf(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(x)
		}
		return ast.NewArray(terms...), nil
	case reflect.Map:
		if v.IsNil() {
			return ast.Null{}, nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", v.Type().Key())
		}
		obj := ast.NewObjectWithCapacity(v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := valueOf(it.Value())
			if err != nil {
				return nil, err
			}
			obj.Insert(ast.StringTerm(it.Key().String()), ast.NewTerm(x))
		}
		return obj, nil
	case reflect.Struct:
		fields := structFields(v.Type())
		obj := ast.NewObjectWithCapacity(len(fields))
		for _, f := range fields {
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			x, err := valueOf(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			obj.Insert(f.key, ast.NewTerm(x))
		}
		return obj, nil
	}
	// Anything else: let encoding/json decide, then convert.
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	return ast.ValueFromReader(strings.NewReader(string(b)))
}

type field struct {
	index     int
	name      string
	key       *ast.Term
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> []field

func structFields(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{index: i, name: name, key: ast.StringTerm(name), omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	fieldCache.Store(t, fs)
	return fs
}

// isEmptyValue is encoding/json's omitempty rule (structs are never empty).
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
