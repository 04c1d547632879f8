// node-llama-cpp's half of scripts/check_node_llama_cpp.sh:
//   node check.mjs MODEL.gguf OURS.json THEIRS.json
// For each prompt of OURS.json (scripts/greedy_agreement.py ours): node-llama-cpp's tokenization
// of the text (BOS as the model asks) and its greedy ids from OUR prompt ids. For the chat: the
// chat wrapper node-llama-cpp picks from the GGUF (its own Jinja renderer or a built-in wrapper),
// the ids it renders the conversation to, and the greedy reply from them. THEIRS.json is compared
// with greedy_agreement.py compare.
import fs from "node:fs";
import {getLlama, resolveChatWrapper} from "node-llama-cpp";

const [modelPath, oursPath, outPath] = process.argv.slice(2);
const ours = JSON.parse(fs.readFileSync(oursPath, "utf8"));
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 512, threads: 1, sequences: 1});
const sequence = context.getSequence();

async function greedy(prompt, maxTokens) {
    await sequence.clearHistory();
    const ids = [];
    for await (const token of sequence.evaluate(prompt, {temperature: 0})) {
        ids.push(token);
        if (model.isEogToken(token) || ids.length >= maxTokens) break;
    }
    // evaluate() ends by itself at an end-of-generation token, without yielding it
    return {ids, finish: ids.length < maxTokens && !model.isEogToken(ids.at(-1)) ? "stop" : undefined};
}

const bos = model.tokens.shouldPrependBosToken && model.tokens.bos != null ? [model.tokens.bos] : [];
const theirs = {engine: "node-llama-cpp", prompts: {}};
for (const [text, mine] of Object.entries(ours.prompts)) {
    const prompt = [...bos, ...model.tokenize(text)];
    // decoding starts from our ids, so a tokenizer difference is reported once, not twice
    const want = mine.ids.length + (mine.finish === "length" ? 0 : 1);  // and the stop token, if we stopped
    theirs.prompts[text] = {prompt, ...(await greedy(mine.prompt, want))};
}
const user = ours.chat_messages.find((m) => m.role === "user").content;
// "jinjaTemplate": our GGUF's template through node-llama-cpp's own Jinja renderer (a second
// implementation); "auto": what a user gets by default, maybe a built-in wrapper that it judged equal
for (const [key, type] of [["chat", "jinjaTemplate"], ["chat_auto", "auto"]]) {
    const wrapper = resolveChatWrapper(model, {type});
    const state = wrapper.generateContextState({chatHistory: [{type: "user", text: user}, {type: "model", response: []}]});
    const prompt = state.contextText.tokenize(model.tokenizer);
    const {ids, finish} = await greedy(prompt, ours.chat.ids.length + (ours.chat.finish === "length" ? 0 : 1));
    const entry = {prompt, ids, finish, wrapper: wrapper.wrapperName};
    if (key === "chat") theirs.chat = entry;
    else theirs.informational = {[`chat through the default wrapper (${wrapper.wrapperName})`]: entry};
    console.log(`node-llama-cpp ${type}: wrapper ${wrapper.wrapperName}, prompt ${JSON.stringify(model.detokenize(prompt, true))}, ` +
                `reply ${JSON.stringify(model.detokenize(ids))}`);
}
fs.writeFileSync(outPath, JSON.stringify(theirs));
await llama.dispose();
