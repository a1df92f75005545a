// What a Deno program costs before it does anything: the floor for `veryfreshpod version`.
console.log("0.0.0");
