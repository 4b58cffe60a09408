/** keyframes.py imported as text (`with { type: "text" }`), so the compiled appliance carries it. */
declare module "*.py" {
  const source: string;
  export default source;
}
