/**
 * Label selectors as `kubectl -l` takes them (`tier=web,track!=canary`,
 * `env in (dev,test)`, `!legacy`), checked before they reach the API server,
 * so that a typo is one clear line at start instead of a watch that fails
 * over and over.
 */

// A label name: 63 characters at most, alphanumeric at both ends; a key may have a
// DNS-subdomain prefix and a slash (k8s.io/apimachinery validation).
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function keyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix))) {
    return `"${prefix}" is not a valid label key prefix (a DNS subdomain)`;
  }
  if (!NAME.test(name)) {
    return `"${key}" is not a valid label key (63 characters at most: letters, digits, ` +
      "-, _ and ., starting and ending with a letter or digit)";
  }
  return undefined;
}

function valueProblem(value: string): string | undefined {
  if (value === "" || NAME.test(value)) return undefined;
  return `"${value}" is not a valid label value (63 characters at most: letters, digits, -, _ ` +
    "and ., starting and ending with a letter or digit)";
}

/** The requirements of a selector, split at the commas outside parentheses. */
function requirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const char = selector[i];
    if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (char === "," && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts.map((part) => part.trim());
}

/** Why one requirement (`tier=web`, `env in (a,b)`, `!legacy`) is wrong, or undefined. */
function requirementProblem(requirement: string): string | undefined {
  if (requirement === "") return "a requirement between commas is empty";
  const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(requirement);
  if (set) {
    const values = set[3]!.split(",").map((value) => value.trim());
    if (values.every((value) => value === "")) return `"${requirement}" needs at least one value`;
    return keyProblem(set[1]!) ?? values.map(valueProblem).find((problem) => problem);
  }
  const compared = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(requirement);
  if (compared) return keyProblem(compared[1]!) ?? valueProblem(compared[3]!);
  const exists = /^(!?)\s*([^=!\s()]+)$/.exec(requirement);
  if (exists) return keyProblem(exists[2]!);
  return `"${requirement}" is not a requirement (use key=value, key!=value, key in (a,b), ` +
    "key notin (a,b), key or !key)";
}

/** Why `selector` is not a label selector, or undefined when it is one. */
export function labelSelectorProblem(selector: string): string | undefined {
  if (selector.trim() === "") return "the selector is empty";
  return requirements(selector).map(requirementProblem).find((problem) => problem);
}
