// `npm run bench`: the group-core benchmark (bench/group.mjs). Other areas have their own files:
// bench/psi.mjs, bench/workers.mjs, bench/he.mjs, bench/ledger.mjs (npm run bench:<area>).
await import('./group.mjs');
