"""Request validation against a Smithy/botocore JSON service model (stdlib).

    m = Model.load("CodeDeployCommand.api.json")
    errors = m.validate_input("PollHostCommand", body_dict)   # [] when valid

Checks, per the model: the body is a JSON object; required members are
present and not null; member types (structure, string, long, integer,
boolean, timestamp, list, map); string enum, min/max length and pattern;
unknown members are errors. Each error names the member path, in the
style of the AWS validation messages, e.g.
  Value null at 'HostIdentifier' failed to satisfy constraint: Member must not be null
"""
import json
import re

LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


def _show(v):
    if v is None:
        return "null"
    if isinstance(v, str):
        return "'%s'" % (v if len(v) <= 80 else v[:77] + "...")
    return "'%s'" % json.dumps(v)[:80]


class Model:
    def __init__(self, doc):
        self.doc = doc
        self.meta = doc["metadata"]
        self.operations = doc["operations"]
        self.shapes = doc["shapes"]
        self._re = {}

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls(json.load(f))

    def input_shape(self, op):
        ref = self.operations[op].get("input")
        return ref["shape"] if ref else None

    def validate_input(self, op, body):
        name = self.input_shape(op)
        if not isinstance(body, dict):
            return ["Request body must be a JSON object"]
        if name is None:
            return ["Unknown member '%s'" % k for k in body]
        errs = []
        self._check(name, body, "", errs)
        return errs

    def _pattern(self, p):
        r = self._re.get(p)
        if r is None:
            # Java String.matches semantics: the whole value must match;
            # Python's '$' would also match before a final newline.
            core = p[1:] if p.startswith("^") else p
            core = core[:-1] if core.endswith("$") and not core.endswith("\\$") else core
            r = self._re[p] = re.compile(core)
        return r

    def _check(self, shape_name, v, path, errs):
        s = self.shapes[shape_name]
        t = s["type"]
        where = path or shape_name

        def bad(constraint):
            errs.append("Value %s at '%s' failed to satisfy constraint: %s"
                        % (_show(v), where, constraint))

        if t == "structure":
            if not isinstance(v, dict):
                return bad("Member must be a structure (JSON object)")
            members = s.get("members", {})
            for k in v:
                if k not in members:
                    errs.append("Unknown member '%s'" % (path + "." + k if path else k))
            for r in s.get("required", []):
                if v.get(r) is None:
                    errs.append("Value null at '%s' failed to satisfy constraint: "
                                "Member must not be null" % (path + "." + r if path else r))
            for k, ref in members.items():
                if k in v and v[k] is not None:
                    self._check(ref["shape"], v[k], path + "." + k if path else k, errs)
        elif t == "string":
            if not isinstance(v, str):
                return bad("Member must be a string")
            if "enum" in s and v not in s["enum"]:
                bad("Member must satisfy enum value set: [%s]" % ", ".join(s["enum"]))
            if "min" in s and len(v) < s["min"]:
                bad("Member must have length greater than or equal to %d" % s["min"])
            if "max" in s and len(v) > s["max"]:
                bad("Member must have length less than or equal to %d" % s["max"])
            if "pattern" in s and not self._pattern(s["pattern"]).fullmatch(v):
                bad("Member must satisfy regular expression pattern: %s" % s["pattern"])
        elif t in ("long", "integer"):
            lo, hi = (LONG_MIN, LONG_MAX) if t == "long" else (INT_MIN, INT_MAX)
            if isinstance(v, bool) or not isinstance(v, int):
                return bad("Member must be an integer (%s)" % t)
            if not lo <= v <= hi:
                bad("Member must be within the range of a %s" % t)
            if "min" in s and v < s["min"]:
                bad("Member must have value greater than or equal to %d" % s["min"])
            if "max" in s and v > s["max"]:
                bad("Member must have value less than or equal to %d" % s["max"])
        elif t == "boolean":
            if not isinstance(v, bool):
                bad("Member must be a boolean")
        elif t == "timestamp":
            # JSON 1.1: epoch seconds as a number
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                bad("Member must be a timestamp (epoch seconds as a JSON number)")
        elif t == "list":
            if not isinstance(v, list):
                return bad("Member must be a list")
            for i, e in enumerate(v):
                self._check(s["member"]["shape"], e, "%s.%d" % (where, i + 1), errs)
        elif t == "map":
            if not isinstance(v, dict):
                return bad("Member must be a map")
            for k, e in v.items():
                self._check(s["value"]["shape"], e, "%s.%s" % (where, k), errs)
        else:
            bad("unsupported shape type %s" % t)
