// Nothing calmfetch needs. The root only silences Next's guess of the
// workspace (this app sits inside the calmfetch repository).
export default { turbopack: { root: import.meta.dirname } }
