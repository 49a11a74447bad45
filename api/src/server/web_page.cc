// The search page served at "/": plain HTML and JavaScript over the /v1 API
// (no build step, no external assets: hospitals run this offline).
#include "api/src/server/server_impl.h"

namespace ctdb::server {

const std::string& WebPage() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ctdb search</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1c2330}
header{background:#1c2a44;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0 12px 0 0}
input,select,button{font-size:14px;padding:6px 8px;border-radius:4px;border:1px solid #9aa5b8}
button{background:#2f6fdf;color:#fff;border:none;cursor:pointer}
#q{width:380px}
main{display:flex;gap:16px;padding:16px}
#results{flex:3;display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:12px;align-content:start}
#side{flex:1;min-width:260px;background:#fff;border-radius:6px;padding:12px;align-self:start}
.card{background:#fff;border-radius:6px;padding:8px;box-shadow:0 1px 3px rgba(0,0,0,.15);font-size:13px}
.card img{width:100%;image-rendering:pixelated;background:#000;border-radius:4px;aspect-ratio:1}
.card .k{font-weight:600}.card .s{color:#4a5568}.card .imp{margin:4px 0;min-height:32px}
.card button{font-size:12px;padding:4px 6px;margin-right:4px}
.bar{display:flex;align-items:center;gap:6px;font-size:12px;margin:3px 0}
.bar .n{width:130px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.bar .b{flex:1;background:#e2e8f0;height:10px;border-radius:5px;overflow:hidden}
.bar .b i{display:block;height:100%;background:#d9534f}
#msg{padding:0 16px;color:#b00020;font-size:13px}
#meaning{padding:0 16px;color:#4a5568;font-size:12px}
</style></head><body>
<header><h1>ctdb</h1>
<form id="f"><input id="q" placeholder="Describe a finding, e.g. large right pleural effusion" value="pleural effusion">
<button id="go" type="submit">Search</button></form>
<select id="disease"><option value="">search by disease…</option></select>
<input id="key" type="password" placeholder="API key (if required)" size="18">
</header>
<div id="msg"></div><div id="meaning"></div>
<main><div id="results"></div><div id="side"><b>Disease probabilities</b><div id="probs">Choose “Diseases” on a result.</div></div></main>
<script>
const $=s=>document.querySelector(s);
$('#key').value=localStorage.getItem('ctdbKey')||'';
$('#key').onchange=()=>localStorage.setItem('ctdbKey',$('#key').value);
function hdrs(){const h={'Content-Type':'application/json'};const k=$('#key').value;if(k)h['Authorization']='Bearer '+k;return h}
async function api(method,path,body){
  const r=await fetch(path,{method,headers:hdrs(),body:body?JSON.stringify(body):undefined});
  const ct=r.headers.get('Content-Type')||'';
  if(!r.ok){let m=r.status+'';try{m=(await r.json()).error.message}catch(e){};throw new Error(m)}
  return ct.includes('json')?r.json():r.blob();
}
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
async function show(res){
  $('#msg').textContent='';$('#meaning').textContent='score: '+res.score_meaning;
  const box=$('#results');box.innerHTML='';
  if(!res.hits.length){box.innerHTML='<p>No hits.</p>';return}
  for(const h of res.hits){
    const c=document.createElement('div');c.className='card';c.dataset.key=h.key;
    const extra=h.z_mm!==undefined?` · z ${h.z_mm.toFixed(0)} mm`:h.probability!==undefined?` · p ${h.probability.toFixed(2)}`:'';
    c.innerHTML=`<img alt="axial slice of ${esc(h.key)}"><div class="k">#${h.rank} ${esc(h.key)}</div>
      <div class="s">score ${h.score.toFixed(3)}${extra} · ${esc(h.study.sex||'?')} ${h.study.age_years>=0?h.study.age_years:'?'}</div>
      <div class="imp">${esc(h.study.impression||'')}</div>
      <button class="sim">Similar patients</button><button class="dis">Diseases</button>`;
    c.querySelector('.sim').onclick=()=>run(()=>api('POST','/v1/search/image',{key:h.key,k:12}));
    c.querySelector('.dis').onclick=()=>classify(h.key);
    box.appendChild(c);
    const z=h.z_mm!==undefined?'&z='+h.z_mm:'';
    // A slab centre may fall just outside the stored preview: fall back to the middle slice.
    const thumb=u=>api('GET',`/v1/studies/${encodeURIComponent(h.key)}/slice.png?window=lung${u}`);
    thumb(z).catch(()=>thumb('')).then(b=>{c.querySelector('img').src=URL.createObjectURL(b)}).catch(()=>{});
  }
}
async function run(f){try{await show(await f())}catch(e){$('#msg').textContent=e.message}}
async function classify(key){
  try{const r=await api('GET',`/v1/studies/${encodeURIComponent(key)}/classify`);
    const rows=r.diseases.slice().sort((a,b)=>b.probability-a.probability);
    $('#probs').innerHTML=`<div>${esc(key)}</div>`+rows.map(d=>`<div class="bar"><span class="n" title="${esc(d.disease)}">${d.labelled?'● ':''}${esc(d.disease)}</span><span class="b"><i style="width:${(100*d.probability).toFixed(0)}%"></i></span><span>${d.probability.toFixed(2)}</span></div>`).join('')+'<div style="font-size:11px;color:#666">● = labelled present</div>';
  }catch(e){$('#msg').textContent=e.message}
}
$('#f').onsubmit=e=>{e.preventDefault();run(()=>api('POST','/v1/search/text',{text:$('#q').value,k:12}))};
$('#disease').onchange=()=>{const d=$('#disease').value;if(d)run(()=>api('POST','/v1/search/disease',{disease:d,k:12}))};
api('GET','/v1/diseases').then(r=>{for(const d of r.diseases){const o=document.createElement('option');o.value=o.textContent=d.name;$('#disease').appendChild(o)}}).catch(()=>{});
</script></body></html>
)HTML";
  return page;
}

}  // namespace ctdb::server
