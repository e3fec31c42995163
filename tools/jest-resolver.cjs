// Jest resolves packages with the `require` condition. kubernetes-models and
// @kubernetes-models/* publish only an `import` entry (ESM-only; swc turns them into
// CommonJS like the other ESM-only packages), so ask for `import` for them alone.
const importOnly = /^(kubernetes-models|@kubernetes-models\/[^/]+)(\/|$)/;

module.exports = (request, options) =>
  options.defaultResolver(
    request,
    importOnly.test(request) ? { ...options, conditions: ['import', ...(options.conditions ?? [])] } : options,
  );
