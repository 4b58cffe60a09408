// Moved to central/holdings (the one answer to "what does central hold"); kept so existing imports resolve.
export * from "../holdings/index.ts";
